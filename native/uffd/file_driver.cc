// file://PATH: pread/pwrite on a file (created when missing unless read-only); sync = fdatasync.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <system_error>

#include "storage_driver.h"

namespace ummap {
namespace {

class FileDriver : public StorageDriver {
 public:
  FileDriver(std::string path, bool readOnly) : path_(std::move(path)) {
    struct stat st;
    existed_ = stat(path_.c_str(), &st) == 0 && st.st_size > 0;
    fd_ = open(path_.c_str(), readOnly ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "open " + path_);
  }
  ~FileDriver() override { close(fd_); }

  ssize_t read(void* buf, size_t size, uint64_t offset) override {
    size_t done = 0;
    while (done < size) {
      ssize_t n = pread(fd_, static_cast<char*>(buf) + done, size - done, offset + done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return -errno;
      if (n == 0) break;  // end of file: the caller zero-fills
      done += n;
    }
    return done;
  }
  ssize_t write(const void* buf, size_t size, uint64_t offset) override {
    size_t done = 0;
    while (done < size) {
      ssize_t n = pwrite(fd_, static_cast<const char*>(buf) + done, size - done, offset + done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return n < 0 ? -errno : -EIO;
      done += n;
    }
    return done;
  }
  unsigned readAheadReaders() const override { return 2; }  // preads overlap the installs
  int sync(uint64_t, size_t) override { return fdatasync(fd_) == 0 ? 0 : -errno; }
  bool exists() override { return existed_; }
  std::string describe() const override { return "file://" + path_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool existed_ = false;
};

}  // namespace

std::shared_ptr<StorageDriver> createFileDriver(const DriverParams& params) {
  auto it = params.find("readOnly");
  bool readOnly = it != params.end() && it->second == "1";
  return std::make_shared<FileDriver>(requireParam(params, "path"), readOnly);
}

}  // namespace ummap
