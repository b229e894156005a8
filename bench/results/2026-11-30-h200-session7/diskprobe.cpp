// Cold-file read strategies for issue 11 item 4 (kept outside the repository).
// diskprobe FILE MODE T BLOCK_MiB LIMIT_GB
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
int main(int argc, char** argv) {
  const char* path = argv[1];
  std::string mode = argv[2];
  int T = std::atoi(argv[3]);
  size_t block = std::strtoull(argv[4], 0, 10) << 20;
  size_t limit = std::strtoull(argv[5], 0, 10) * 1000000000ull;
  int fd = open(path, O_RDONLY);
  struct stat st;
  fstat(fd, &st);
  size_t size = std::min<size_t>(st.st_size, limit) / (1 << 20) * (1 << 20);
  auto t0 = std::chrono::steady_clock::now();
  std::atomic<unsigned long> sum{0};
  const size_t slice = 64 << 20;
  if (mode == "fault" || mode == "faultnorm" || mode == "faultrand") {
    auto* map =
        static_cast<const unsigned char*>(mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0));
    madvise((void*)map, st.st_size,
            mode == "fault"       ? MADV_SEQUENTIAL
            : mode == "faultrand" ? MADV_RANDOM
                                  : MADV_NORMAL);
    for (size_t at = 0; at < size; at += slice) {
      size_t n = std::min(slice, size - at);
      std::vector<std::thread> th;
      for (int t = 0; t < T; ++t)
        th.emplace_back([&, t] {
          size_t b = n * t / T, e = n * (t + 1) / T;
          unsigned long s = 0;
          for (size_t i = b; i < e; i += 4096)
            s += map[at + i];
          sum += s;
        });
      for (auto& x : th)
        x.join();
    }
  } else if (mode == "pread" || mode == "direct") {
    std::atomic<size_t> next{0};
    std::vector<std::thread> th;
    for (int t = 0; t < T; ++t)
      th.emplace_back([&] {
        int f = open(path, O_RDONLY | (mode == "direct" ? O_DIRECT : 0));
        void* buf;
        posix_memalign(&buf, 4096, block);
        unsigned long s = 0;
        for (;;) {
          size_t at = next.fetch_add(block);
          if (at >= size) break;
          size_t n = std::min(block, size - at), got = 0;
          while (got < n) {
            ssize_t r = pread(f, (char*)buf + got, n - got, at + got);
            if (r <= 0) {
              perror("pread");
              std::exit(1);
            }
            got += r;
          }
          s += ((unsigned char*)buf)[0];
        }
        sum += s;
        free(buf);
        close(f);
      });
    for (auto& x : th)
      x.join();
  } else if (mode == "reader") {  // one buffered pread thread ahead, T faulting threads behind
    auto* map =
        static_cast<const unsigned char*>(mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0));
    madvise((void*)map, st.st_size, MADV_SEQUENTIAL);
    std::mutex m;
    std::condition_variable cv;
    size_t ready = 0;
    std::thread reader([&] {
      int f = open(path, O_RDONLY);
      std::vector<char> buf(block);
      for (size_t at = 0; at < size; at += block) {
        size_t n = std::min(block, size - at), got = 0;
        while (got < n) {
          ssize_t r = pread(f, buf.data() + got, n - got, at + got);
          if (r <= 0) std::exit(1);
          got += r;
        }
        {
          std::lock_guard l(m);
          ready = at + n;
        }
        cv.notify_all();
      }
      close(f);
    });
    for (size_t at = 0; at < size; at += slice) {
      size_t n = std::min(slice, size - at);
      {
        std::unique_lock l(m);
        cv.wait(l, [&] { return ready >= at + n; });
      }
      std::vector<std::thread> th;
      for (int t = 0; t < T; ++t)
        th.emplace_back([&, t] {
          size_t b = n * t / T, e = n * (t + 1) / T;
          unsigned long s = 0;
          for (size_t i = b; i < e; i += 4096)
            s += map[at + i];
          sum += s;
        });
      for (auto& x : th)
        x.join();
    }
    reader.join();
  } else {
    std::fprintf(stderr, "mode?\n");
    return 2;
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("probe %s T=%d block=%zuM: %.2f s, %.2f GB/s over %.2f GB (%lu)\n", mode.c_str(), T,
              block >> 20, s, size / s / 1e9, size / 1e9, sum.load());
}
