#include "test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "flowpulse_build_config.hpp"

namespace flowpulse::test {

std::filesystem::path source_root() {
  if (const char* e = std::getenv("FLOWPULSE_SOURCE_ROOT")) return e;
  return FLOWPULSE_SOURCE_ROOT;
}

std::filesystem::path build_root() {
  if (const char* e = std::getenv("FLOWPULSE_BUILD_ROOT")) return e;
  return FLOWPULSE_BUILD_ROOT;
}

std::filesystem::path shared_data() { return source_root() / ".." / "shared" / "data"; }

std::vector<std::uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + p.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace flowpulse::test

extern char** environ;

namespace flowpulse::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "flowpulse-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

sockaddr_storage make_sockaddr(const std::string& addr, int port, socklen_t& len) {
  sockaddr_storage ss{};
  if (addr.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET6, addr.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, addr.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  return ss;
}

std::uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  return ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

std::uint64_t inode_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

std::uint16_t free_port(int type) {
  int fd = ::socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

Process::Process(std::vector<std::string> argv, const std::filesystem::path& dir, const std::string& name)
    : out_(dir / (name + ".out")), err_(dir / (name + ".err")) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  if (posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&fa);
  if (pid_ < 0) throw std::runtime_error("cannot start " + argv[0]);
}

Process::~Process() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait(5000);
  }
}

bool Process::running() {
  if (status_ != -1) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    return false;
  }
  return true;
}

void Process::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

int Process::wait(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

std::string Process::out() const { return read_text(out_); }
std::string Process::err() const { return read_text(err_); }

bool Process::wait_for_output(const std::string& needle, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (out().find(needle) != std::string::npos || err().find(needle) != std::string::npos) return true;
    if (!running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

RunResult run(const std::vector<std::string>& argv, int timeout_ms) {
  TempDir dir;
  Process p(argv, dir.path(), "cmd");
  int code = p.wait(timeout_ms);
  return {code, p.out(), p.err()};
}

std::string flowpulse_binary() {
  if (const char* e = std::getenv("FLOWPULSE_BINARY")) return e;
  return (build_root() / "src" / "cli" / "flowpulse").string();
}

std::string find_tool(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/local/sbin";
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

bool have_tool(const std::string& tool) { return !find_tool(tool).empty(); }

HttpResponse http_get(const std::string& host, std::uint16_t port, const std::string& path, int timeout_ms) {
  HttpResponse r;
  const bool v6 = host.find(':') != std::string::npos;
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, host.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return r;
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  if (::send(fd, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return r;
  }
  std::string resp;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) resp.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  auto head_end = resp.find("\r\n\r\n");
  if (head_end == std::string::npos || resp.compare(0, 5, "HTTP/") != 0) return r;
  r.headers = resp.substr(0, head_end);
  r.body = resp.substr(head_end + 4);
  r.status = std::atoi(resp.c_str() + resp.find(' ') + 1);
  return r;
}

std::string Sample::label(const std::string& key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) return v;
  }
  return {};
}

double Exposition::sum(const std::string& name,
                       const std::vector<std::pair<std::string, std::string>>& match) const {
  double total = 0;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : match) all = all && s.label(k) == v;
    if (all) total += s.value;
  }
  return total;
}

bool Exposition::has(const std::string& name) const {
  for (const auto& s : samples) {
    if (s.name == name) return true;
  }
  return false;
}

std::optional<Exposition> parse_exposition(const std::string& text, std::string* error) {
  Exposition e;
  std::istringstream in(text);
  auto bad = [&](const std::string& line) -> std::optional<Exposition> {
    if (error) *error = line;
    return std::nullopt;
  };
  auto is_name_char = [](char c, bool first) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
           (!first && std::isdigit(static_cast<unsigned char>(c)));
  };
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream c(line);
      std::string hash, kind, name, type;
      c >> hash >> kind >> name >> type;
      if (kind == "TYPE") e.types.emplace_back(name, type);
      continue;
    }
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && is_name_char(line[i], i == 0)) ++i;
    if (i == 0) return bad(line);
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t k = i;
        while (i < line.size() && is_name_char(line[i], i == k)) ++i;
        if (i == k || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return bad(line);
        std::string key = line.substr(k, i - k);
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value.push_back(line[i] == 'n' ? '\n' : line[i]);
          } else {
            value.push_back(line[i]);
          }
          ++i;
        }
        if (i >= line.size()) return bad(line);
        ++i;  // closing quote
        s.labels.emplace_back(std::move(key), std::move(value));
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return bad(line);
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') return bad(line);
    std::string v = line.substr(i + 1);
    v = v.substr(0, v.find(' '));  // an optional timestamp follows
    if (v == "Nan" || v == "NaN") {
      s.value = std::numeric_limits<double>::quiet_NaN();
    } else if (v == "+Inf") {
      s.value = std::numeric_limits<double>::infinity();
    } else if (v == "-Inf") {
      s.value = -std::numeric_limits<double>::infinity();
    } else {
      char* end = nullptr;
      s.value = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0') return bad(line);
    }
    e.samples.push_back(std::move(s));
  }
  return e;
}

}  // namespace flowpulse::test
