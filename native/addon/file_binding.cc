// File helpers Node's fs lacks: fileAllocate(fd, size) reserves a file's blocks before it is
// written (a copy into preallocated blocks skips the file system's allocation on every write).
#include <errno.h>
#include <fcntl.h>
#include <napi.h>

#include <cstring>

namespace {

class AllocateWorker : public Napi::AsyncWorker {
 public:
  AllocateWorker(Napi::Env env, int fd, off_t size)
      : Napi::AsyncWorker(env, "iocatcher.fileAllocate"), deferred_(Napi::Promise::Deferred::New(env)), fd_(fd), size_(size) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { ret_ = size_ > 0 ? posix_fallocate(fd_, 0, size_) : 0; }
  // Resolves with 0 or a negative errno (EOPNOTSUPP: the file system cannot: write as usual).
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), -ret_)); }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  off_t size_;
  int ret_ = 0;
};

Napi::Value FileAllocate(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError e = Napi::TypeError::New(env, "fileAllocate(fd, size): fd and size must be numbers");
    e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
    throw e;
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  double size = info[1].As<Napi::Number>().DoubleValue();
  if (fd < 0 || !(size >= 0) || size > 9007199254740991.0) {
    Napi::RangeError e = Napi::RangeError::New(env, "fileAllocate(fd, size): fd and size must be non-negative");
    e.Set("code", Napi::String::New(env, "ERR_OUT_OF_RANGE"));
    throw e;
  }
  auto *w = new AllocateWorker(env, fd, (off_t)size);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace

Napi::Object InitFileBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("fileAllocate", Napi::Function::New(env, FileAllocate, "fileAllocate"));
  return exports;
}
