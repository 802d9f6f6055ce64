#!/usr/bin/env bash
# Debian packages creditpay needs beyond Python wheels, installed only when missing:
# - postgresql: server binaries for the throwaway test server (tests start their own);
# - pango/harfbuzz + a CJK font: WeasyPrint renders the key-facts PDFs (zh-CN needs the font);
# - chromium: the browser tests (tests/web, Playwright) drive Debian's Chromium at
#   /usr/bin/chromium; Playwright never downloads a browser of its own;
# - openjdk-17-jre-headless: PySpark (the close of business's Spark engine, tests/spark)
#   needs a Java 17+ runtime; installed when no `java` of version 17 or later is found.
set -euo pipefail
need=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1 \
   && ! { [ -n "${CREDITPAY_PG_BIN:-}" ] && [ -x "${CREDITPAY_PG_BIN}/initdb" ]; }; then
  need+=(postgresql)
fi
for pkg in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-wqy-microhei; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ! -x /usr/bin/chromium ]; then
  need+=(chromium)
fi
java_major() {
  # "openjdk version \"17.0.15\" ..." or "java version \"1.8.0_x\"": the major version, or 0.
  local version
  version=$(java -version 2>&1 | sed -n 's/.* version "\([0-9][0-9.]*\).*/\1/p' | head -n1)
  version=${version#1.}
  echo "${version%%.*}" | grep -E '^[0-9]+$' || echo 0
}
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then
  need+=(openjdk-17-jre-headless)
fi
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "installing Debian packages: ${need[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [[ " ${need[*]} " == *" postgresql "* ]]; then
  # The package starts a cluster service on 5432; tests use their own servers, so stop it.
  $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
