#!/usr/bin/env bash
# System packages the tests need and pip cannot provide: Debian's chromium + chromium-driver (the
# browser test) and the PostgreSQL server (the queue and checkpointer tests). Idempotent: when
# everything is present it returns at once without touching apt.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)

if [ ${#need[@]} -eq 0 ]; then
  echo "ci-deps: chromium, chromedriver and PostgreSQL already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ci-deps: missing ${need[*]}; install them as root: apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "ci-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
echo "ci-deps: done"
