#!/usr/bin/env bash
# The whole mtls-core flow on an emulated Cortex-M7 against a real nginx, end to end:
# builds the firmware (opt-level "s", LTO), starts nginx (ssl_verify_client on, the RSA-2048
# leaf + intermediate of pki/, a token endpoint and a resource) and QEMU's mps2-an500 with
# UART0 bridged to nginx's port, runs the flow (handshake, token, two GETs on one kept-alive
# connection), checks nginx's access log, and prints as its last line
# `flash_bytes=N heap_peak_bytes=N stack_peak_bytes=N` (small limits preset, full heap).
#
# Usage: bash run.sh [--features F] [--no-default-features] [--limits small|default] [--heap N] [--min-heap]
#   --features F   cargo features of the firmware (see Cargo.toml), beside its defaults
#   --no-default-features  without the firmware's defaults (compact SHA-2)
#   --limits L     the client's limits preset (default: small)
#   --heap N       bytes of heap the firmware may use (default: all 256 KiB of its array)
#   --min-heap     also find the smallest heap (1 KiB steps) with which the flow completes
#   --opt-level L  build with opt-level L instead of "s" (e.g. z), in its own target dir
#   --big          a third request answered with a 24 KiB body: taken with the default
#                  limits, refused at its head with the small ones (the worst case they allow)
# Needs cargo with the thumbv7em-none-eabihf target, qemu-system-arm, nginx, python3.
# Loopback only, free ports, every step bounded by a timeout.
set -euo pipefail
cd "$(dirname "$0")"

features=""
no_default=""
limits=small
heap=""
min_heap=0
big=""
opt=s
while [ $# -gt 0 ]; do
  case "$1" in
    --features) features="$2"; shift 2 ;;
    --no-default-features) no_default=--no-default-features; shift ;;
    --limits) limits="$2"; shift 2 ;;
    --heap) heap="$2"; shift 2 ;;
    --min-heap) min_heap=1; shift ;;
    --big) big=big; shift ;;
    --opt-level) opt="$2"; shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

NGINX=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
command -v qemu-system-arm >/dev/null || { echo "run.sh: qemu-system-arm missing (apt-get install qemu-system-arm)" >&2; exit 1; }
[ -x "$NGINX" ] || { echo "run.sh: nginx missing (apt-get install nginx-light)" >&2; exit 1; }

echo "=== build (features: ${no_default:+no defaults, }${features:-defaults}, opt-level $opt)"
target_dir=target/run-${no_default:+bare-}${features:-default}
[ "$opt" = s ] || target_dir=$target_dir-opt-$opt
CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt timeout 1200 cargo build --release --locked --quiet --target-dir "$target_dir" $no_default ${features:+--features "$features"}
elf=$target_dir/thumbv7em-none-eabihf/release/qemu-live

work=$(mktemp -d)
nginx_pid=""
cleanup() {
  if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The nginx of tests/support/nginx.rs, reduced to the routes of this flow.
basic="Basic $(printf '%s' 'qemu-device:qemu-live-test-key' | base64 -w0)"
start_nginx() {
  local port=$1
  # The big answer: a JSON string of 24 KiB, served as a file (nginx's `return` takes 4 KiB).
  mkdir -p "$work/static/v2.01/qemu-device"
  { printf '"'; head -c 24576 /dev/zero | tr '\0' x; printf '"'; } >"$work/static/v2.01/qemu-device/big"
  cat >"$work/nginx.conf" <<CONF
master_process off;
error_log $work/error.log info;
pid $work/nginx.pid;
events { worker_connections 16; }
http {
    map_hash_bucket_size 256;
    client_body_temp_path $work/client_body_temp;
    proxy_temp_path $work/proxy_temp;
    fastcgi_temp_path $work/fastcgi_temp;
    uwsgi_temp_path $work/uwsgi_temp;
    scgi_temp_path $work/scgi_temp;
    log_format mtls '\$request_method \$request_uri \$status "\$ssl_client_s_dn" \$ssl_client_verify conn=\$connection req=\$connection_requests proto=\$ssl_protocol';
    access_log $work/access.log mtls;
    types { }
    default_type application/json;
    charset off;
    server_tokens off;
    keepalive_timeout 60s;
    map \$http_authorization \$basic_ok { "$basic" 1; default 0; }
    map \$content_type \$form_ok { "~*^application/x-www-form-urlencoded[ \\t]*(;.*)?\$" 1; default 0; }
    map "\$basic_ok\$form_ok" \$token_ok { "11" 1; default 0; }
    map \$http_authorization \$bearer_ok { "Bearer qemu-token-1" 1; default 0; }
    server {
        listen 127.0.0.1:$port ssl;
        server_name localhost;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate $PWD/pki/server-chain.pem;
        ssl_certificate_key $PWD/pki/server-key.pem;
        ssl_client_certificate $PWD/pki/client-ca.pem;
        ssl_verify_client on;
        ssl_verify_depth 3;
        location = /v2.01/oauth/token {
            if (\$request_method != POST) { return 405 '{"Type":"method_not_allowed"}'; }
            if (\$token_ok = 0) { return 401 '{"Type":"invalid_client"}'; }
            return 200 '{"access_token":"qemu-token-1","token_type":"Bearer","expires_in":3600}';
        }
        location ~ "^/v2\.01/qemu-device/users/(?<user_id>[^/]+)\$" {
            if (\$bearer_ok = 0) { return 401 '{"Type":"invalid_token"}'; }
            return 200 '{"Id":"\$user_id","Tag":"nginx","ClientCertDN":"\$ssl_client_s_dn"}';
        }
        location = /v2.01/qemu-device/big {
            if (\$bearer_ok = 0) { return 401 '{"Type":"invalid_token"}'; }
            root $work/static;
        }
        location / { return 404 '{"Type":"ressource_not_found"}'; }
    }
}
CONF
  "$NGINX" -p "$work" -c "$work/nginx.conf" -e "$work/error.log" -g 'daemon off;' \
    </dev/null >/dev/null 2>"$work/nginx.stderr" &
  nginx_pid=$!
  for _ in $(seq 1 100); do
    if [ -s "$work/nginx.pid" ] && [ "$(cat "$work/nginx.pid")" = "$nginx_pid" ] &&
      python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then
      return 0
    fi
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "run.sh: nginx did not start:" >&2
  cat "$work/error.log" "$work/nginx.stderr" >&2 || true
  kill "$nginx_pid" 2>/dev/null || true
  nginx_pid=""
  return 1
}

started=0
for _ in 1 2 3 4 5; do
  port=$(free_port)
  if start_nginx "$port"; then started=1; break; fi
done
[ $started = 1 ] || exit 1
echo "=== nginx on 127.0.0.1:$port (ssl_verify_client on)"

# One QEMU run; its semihosting output in $work/qemu.log. Returns QEMU's exit status.
run_qemu() {
  local append="limits=$1${2:+ heap=$2}${big:+ $big}"
  local rc=0
  timeout 180 qemu-system-arm -machine mps2-an500 -cpu cortex-m7 \
    -display none -monitor none -nodefaults \
    -chardev socket,id=uart0,host=127.0.0.1,port="$port" -serial chardev:uart0 \
    -semihosting-config enable=on,target=native -kernel "$elf" -append "$append" \
    >"$work/qemu.log" 2>&1 || rc=$?
  return $rc
}

lines_before=0
echo "=== QEMU mps2-an500, limits=$limits${heap:+ heap=$heap}${big:+ with the big answer}"
if ! run_qemu "$limits" "$heap"; then
  cat "$work/qemu.log"
  echo "run.sh: the flow failed (nginx error log below)" >&2
  tail -n 20 "$work/error.log" >&2 || true
  exit 1
fi
cat "$work/qemu.log"

# The server's side: the token request and both GETs, on one connection, with the device's
# certificate verified.
sleep 0.2
echo "=== nginx access log"
cat "$work/access.log"
python3 - "$work/access.log" $big <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
want = ["POST /v2.01/oauth/token 200", "GET /v2.01/qemu-device/users/1 200",
        "GET /v2.01/qemu-device/users/2 200"]
if len(sys.argv) > 2:
    want.append("GET /v2.01/qemu-device/big 200")
if len(lines) != len(want) or any(not l.startswith(w) for l, w in zip(lines, want)):
    sys.exit("run.sh: nginx did not log the token request and the two GETs")
conns = {re.search(r"conn=(\d+)", l).group(1) for l in lines}
if len(conns) != 1 or not all('"CN=qemu-device" SUCCESS' in l and "TLSv1.3" in l for l in lines):
    sys.exit("run.sh: not one TLS 1.3 connection with a verified client certificate")
PY

heap_peak=$(sed -n 's/.*heap_peak_bytes=\([0-9]*\).*/\1/p' "$work/qemu.log" | tail -n1)
stack_peak=$(sed -n 's/.*stack_peak_bytes=\([0-9]*\).*/\1/p' "$work/qemu.log" | tail -n1)

if [ $min_heap = 1 ]; then
  # The smallest heap that completes, 1 KiB steps: a bisection between a size that failed
  # and one that worked (fragmentation makes it larger than the peak).
  lo=$(( heap_peak / 1024 )) hi=$(( (heap_peak + 1023) / 1024 + 64 ))
  if ! run_qemu "$limits" $((hi * 1024)); then echo "run.sh: $hi KiB does not complete" >&2; exit 1; fi
  while [ $((hi - lo)) -gt 1 ]; do
    mid=$(( (lo + hi) / 2 ))
    if run_qemu "$limits" $((mid * 1024)); then hi=$mid; else lo=$mid; fi
  done
  echo "=== smallest heap that completes (limits=$limits): $((hi * 1024)) B ($hi KiB); $((lo)) KiB does not"
fi

# Flash: what a board keeps in flash (vector table, code, read-only data, .data's image).
echo "=== sections (bytes; flash = vector table + text + rodata + data)"
flash=$(python3 - "$elf" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
shoff, = struct.unpack_from("<I", d, 0x20)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x2E)
secs = [struct.unpack_from("<IIIIIIIIII", d, shoff + i * shentsize) for i in range(shnum)]
stroff = secs[shstrndx][4]
name = lambda s: d[stroff + s[0]:d.index(b"\0", stroff + s[0])].decode()
sizes = {name(s): s[5] for s in secs}
flash = (".vector_table", ".text", ".rodata", ".data")
print(" ".join(f"{n}={sizes.get(n, 0)}" for n in flash + (".bss",)), file=sys.stderr)
print(sum(sizes.get(n, 0) for n in flash))
PY
)
echo "flash_bytes=$flash heap_peak_bytes=$heap_peak stack_peak_bytes=$stack_peak"
