#!/usr/bin/env bash
# Exit 0 iff LeakSanitizer can run here. It needs ptrace, which some containers forbid; then leak checks must be
# switched off (and the callers say so) rather than fail every test. Probes with a trivial clang ASan program.
set -u
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int main() { return 0; }\n' > "$probe/p.cpp"
clang++ -fsanitize=address "$probe/p.cpp" -o "$probe/p" > /dev/null 2>&1 &&
  ASAN_OPTIONS=detect_leaks=1 "$probe/p" > /dev/null 2>&1
