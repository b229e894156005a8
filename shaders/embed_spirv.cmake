# cmake -P embed_spirv.cmake IN=<file.spv> OUT=<file.spv.inc>: the SPIR-V words of IN as a
# brace-enclosed C initialiser (little-endian words, as SPIR-V files are written here).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" length)
math(EXPR remainder "${length} % 8")
if(length EQUAL 0 OR NOT remainder EQUAL 0)
  message(FATAL_ERROR "${IN}: not a whole number of 32-bit words")
endif()
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
file(WRITE "${OUT}" "{${words}}\n")
