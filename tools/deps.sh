#!/bin/sh
# Installs the Debian packages scaleset needs to build, test and demo.
# Idempotent: installs only what is missing, runs apt-get update only when
# the package lists are absent or an install fails; uses sudo when not root.

set -eu

PACKAGES="
build-essential
pkg-config
nginx
nginx-dev
libpcre2-dev
zlib1g-dev
libssl-dev
libvirt-dev
libxml2-dev
libvirt-clients
libvirt0
libhiredis-dev
redis-server
redis-sentinel
libcurl4-openssl-dev
prometheus
libcmocka-dev
libjansson-dev
libyaml-dev
libevent-dev
libsystemd-dev
libisofs-dev
libarchive-tools
cloud-init
systemd
wrk
pandoc
debhelper
dpkg-dev
fakeroot
lintian
devscripts
curl
valgrind
gdb
strace
nodejs
chromium
libredis-perl
libyaml-libyaml-perl
libvirt-daemon-system
libvirt-daemon-driver-qemu
qemu-system-x86
qemu-utils
busybox-static
cpio
linux-image-cloud-amd64
clang
clang-format
libclang-rt-dev
"

missing=""
# npm comes with some builds of nodejs (NodeSource's provides and conflicts
# with Debian's npm package): asked for only when there is no npm
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES npm"
for p in $PACKAGES; do
    s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$s" in
        *" installed") ;;
        *) missing="$missing $p" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "deps: all $(echo $PACKAGES | wc -w) packages present"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

echo "deps: installing:$missing"

install() {
    $sudo apt-get install -y -q --no-install-recommends $missing
}

if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
    echo "deps: package lists absent, running apt-get update"
    $sudo apt-get update -q
fi

if ! install; then
    echo "deps: install failed, refreshing package lists and retrying"
    $sudo apt-get update -q
    install
fi
