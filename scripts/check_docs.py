#!/usr/bin/env python3
"""Keeps the README and docs/ true (issue 25): run by ctest (Docs.*) and by check_install.sh.

Checks, from the source tree alone (no build):
  - every relative Markdown link, every backticked repository path and every `NAME.md` named in
    README.md, BENCHMARKS.md and docs/*.md exists;
  - the README's "Settings" list names exactly the VECACCEL_* variables src/util/settings* reads;
  - the README's layout table lists every top-level directory and every src/ subdirectory, and
    each path it lists exists;
  - every C++, GLSL and Python block in the README carries a test tag on the line before it:
      <!-- test: compile -->    C++, compiled and linked against the installed package
      <!-- test: run -->        C++, compiled, linked and run (in a directory holding axpy.spv)
      <!-- test: glslc NAME --> GLSL, compiled with glslc to NAME (which `run` blocks may load)
      <!-- test: pytest -->     Python, run by python/tests/test_readme.py
    A C++ block without `int main` is a fragment: it runs inside main() after
    `vecaccel::Context context;`. tests/consumer/readme_prelude.hpp supplies what the blocks
    leave to the reader (load_base() and friends).

Usage: check_docs.py [--snippets DIR]   (DIR: write the tagged C++/GLSL blocks there, and a
list `snippets.txt` of "kind name" lines, for scripts/check_install.sh to build and run)
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "BENCHMARKS.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
TAGGED_LANGUAGES = {"cpp", "glsl", "python"}
FENCE = re.compile(r"^```(\w*)\s*$")
TAG = re.compile(r"^<!-- test: (compile|run|glslc [\w.]+|pytest) -->$")


def code_blocks(text):
    """[(language, tag or None, first line number, code)] of the fenced blocks in text."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        tag = TAG.match(lines[i - 1].strip()) if i > 0 else None
        blocks.append((m.group(1), tag.group(1) if tag else None, i + 1, "\n".join(lines[i + 1:end]) + "\n"))
        i = end + 1
    return blocks


def prose(text):
    """The text outside fenced blocks: code inside them names files of a user's machine."""
    out, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line) or line.strip() == "```":
            inside = not inside
            continue
        if not inside:
            out.append(line)
    return "\n".join(out)


def tracked_top_level():
    try:
        files = subprocess.run(["git", "-C", str(ROOT), "ls-files"], check=True, capture_output=True,
                               text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # a source tree without git: the directory
        return {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(("build", ".git"))}
    return {f.split("/")[0] for f in files if "/" in f}


def is_program(token):
    """`bench/bench_knn`: a program the directory's CMakeLists.txt builds."""
    directory, _, name = token.rpartition("/")
    cmake = ROOT / directory / "CMakeLists.txt"
    return cmake.exists() and re.search(rf"(add_executable|vecaccel_add_bench)\({re.escape(name)}\s",
                                        cmake.read_text()) is not None


def check_links(errors):
    top = tracked_top_level() | {p.name for p in ROOT.iterdir()}
    for doc in DOCS:
        path = ROOT / doc
        text = prose(path.read_text())
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                errors.append(f"{doc}: link '{target}' names no file")
        for token in re.findall(r"`([^`\s]+)`", text):
            token = token.rstrip(".,;:")
            first = token.split("/")[0]
            if "/" not in token or first not in top or any(c in token for c in "*<>{}$|="):
                continue
            if not (ROOT / token.split(":")[0]).exists() and not is_program(token):
                errors.append(f"{doc}: `{token}` names no file of the repository")
        for name in set(re.findall(r"\b([\w-]+\.md)\b", text)):
            if not any((d / name).exists() for d in (ROOT, ROOT / "docs", path.parent)):
                errors.append(f"{doc}: {name} is not in the repository")


def check_settings(readme, errors):
    section = re.search(r"^## Settings\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    if not section:
        errors.append("README.md: no '## Settings' section")
        return
    listed = set(re.findall(r"`(VECACCEL_[A-Z0-9_]+)=", section.group(1)))
    read = set()
    for source in (ROOT / "src" / "util").glob("settings*"):
        for literal in re.findall(r'"((?:[^"\\\n]|\\.)*)"', source.read_text()):
            read.update(re.findall(r"VECACCEL_[A-Z0-9_]+", literal))
    for name in sorted(read - listed):
        errors.append(f"README.md Settings: {name} is read by src/util/settings* but not listed")
    for name in sorted(listed - read):
        errors.append(f"README.md Settings: {name} is listed but src/util/settings* does not read it")


def check_layout(readme, errors):
    section = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    if not section:
        errors.append("README.md: no '## Layout' section")
        return
    rows = re.findall(r"^\| `([^`]+)` \|", section.group(1), re.M)
    for row in rows:
        if not (ROOT / row).exists():
            errors.append(f"README.md layout: `{row}` does not exist")
    listed = {r.rstrip("/") for r in rows}
    listed |= {r.split("/")[0] for r in rows}
    wanted = {d for d in tracked_top_level() if (ROOT / d).is_dir()}
    wanted |= {f"src/{p.name}" for p in (ROOT / "src").iterdir() if p.is_dir()}
    for directory in sorted(wanted - listed):
        errors.append(f"README.md layout: `{directory}/` is missing from the table")


def check_tags(readme, errors):
    for language, tag, line, _ in code_blocks(readme):
        if language not in TAGGED_LANGUAGES:
            continue
        if tag is None:
            errors.append(f"README.md:{line}: a {language} block without a '<!-- test: ... -->' line before it")
        elif (language == "python") != (tag == "pytest") or (language == "glsl") != tag.startswith("glslc"):
            errors.append(f"README.md:{line}: a {language} block tagged '{tag}'")


def write_snippets(readme, out):
    out.mkdir(parents=True, exist_ok=True)
    listing = []
    for language, tag, line, code in code_blocks(readme):
        if language == "glsl" and tag:
            name = tag.split()[1].removesuffix(".spv") + ".comp"
            (out / name).write_text(code)
            listing.append(f"glslc {name} {tag.split()[1]}")
        elif language == "cpp" and tag in ("compile", "run"):
            name = f"readme_line{line}.cpp"
            # Compiler messages point at README.md's own lines.
            located = f'#line {line + 1} "README.md"\n' + code
            if "int main" not in code:
                located = "int main() {\n  vecaccel::Context context;\n" + located + "}\n"
            (out / name).write_text('#include "readme_prelude.hpp"\n' + located)
            listing.append(f"{tag} {name}")
    (out / "snippets.txt").write_text("\n".join(listing) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snippets", type=Path, help="write the README's tagged C++/GLSL blocks here")
    args = parser.parse_args()
    readme = (ROOT / "README.md").read_text()
    errors = []
    check_links(errors)
    check_settings(readme, errors)
    check_layout(readme, errors)
    check_tags(readme, errors)
    for e in errors:
        print(f"check_docs: {e}", file=sys.stderr)
    if errors:
        return 1
    if args.snippets:
        write_snippets(readme, args.snippets)
    print(f"check_docs: {len(DOCS)} documents: links, settings, layout and snippet tags hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
