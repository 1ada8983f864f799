#!/bin/sh
# Builds the tiny scaleset test guest into OUT (default build/guest):
#   vmlinuz        the kernel of Debian's linux-image-cloud-amd64
#   initramfs.gz   busybox-static + the virtio modules + /init, a cpio.gz
#                  built reproducibly (fixed mtimes, sorted entries, newc)
# The guest brings up eth0 (DHCP from qemu user networking, static
# 10.0.2.15/24 as fallback) and serves HTTP on port 80 with busybox httpd:
#   /healthz  200 "ok"; 404 when the kernel command line carries
#             scaleset.health=fail or after GET /cgi-bin/health?fail
#             (GET /cgi-bin/health?ok restores it)
#   /         a page naming the instance (scaleset.name=NAME on the cmdline)
# Everything comes from Debian packages: linux-image-cloud-amd64,
# busybox-static, cpio.
set -eu

OUT=${1:-build/guest}
EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

# the newest installed cloud kernel
KVER=$(ls /lib/modules | grep -- '-cloud-amd64$' | sort -V | tail -n 1)
[ -n "$KVER" ] || { echo "guest-image: no linux-image-cloud-amd64 installed (make deps)" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "guest-image: busybox-static missing (make deps)" >&2; exit 1; }
file_is_static() { ! ldd "$1" >/dev/null 2>&1; }
file_is_static /bin/busybox || { echo "guest-image: /bin/busybox is not static (install busybox-static)" >&2; exit 1; }

MODDIR=/lib/modules/$KVER
mkdir -p "$OUT"
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/guest-image.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT INT TERM

root=$STAGE/root
mkdir -p "$root/bin" "$root/sbin" "$root/etc/udhcpc" "$root/proc" "$root/sys" \
         "$root/dev" "$root/tmp" "$root/www/cgi-bin" "$root/lib/modules" "$root/root"
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"

# modules in load order: the deps of each (from modules.dep) first
want="virtio_pci virtio_net virtio_blk"
order=""
add_mod() {   # $1 = path relative to MODDIR
    case " $order " in *" $1 "*) return ;; esac
    deps=$(grep "^$1:" "$MODDIR/modules.dep" | cut -d: -f2)
    for d in $deps; do add_mod "$d"; done
    order="$order $1"
}
for m in $want; do
    p=$(grep -E "/$m\.ko(\.[a-z]+)?:" "$MODDIR/modules.dep" | cut -d: -f1 | head -n 1)
    if [ -z "$p" ]; then
        # built in (=y): nothing to load
        grep -q "/$m.ko" "$MODDIR/modules.builtin" 2>/dev/null && continue
        echo "guest-image: module $m not found for $KVER" >&2; exit 1
    fi
    add_mod "$p"
done
: > "$root/lib/modules/order"
for p in $order; do
    b=$(basename "$p")
    case "$b" in
        *.ko.xz) xz -dc "$MODDIR/$p" > "$root/lib/modules/${b%.xz}"; b=${b%.xz} ;;
        *.ko.zst) zstd -qdc "$MODDIR/$p" > "$root/lib/modules/${b%.zst}"; b=${b%.zst} ;;
        *.ko.gz) gzip -dc "$MODDIR/$p" > "$root/lib/modules/${b%.gz}"; b=${b%.gz} ;;
        *) cp "$MODDIR/$p" "$root/lib/modules/$b" ;;
    esac
    echo "$b" >> "$root/lib/modules/order"
done

cat > "$root/init" <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
while read m; do insmod /lib/modules/$m 2>/dev/null; done < /lib/modules/order

name=unnamed
for w in $(cat /proc/cmdline); do
    case "$w" in
        scaleset.name=*) name=${w#scaleset.name=} ;;
        scaleset.health=fail) health=fail ;;
    esac
done
[ "${health:-ok}" = fail ] || echo ok > /www/healthz
hostname "$name"
echo "$name" > /www/name
printf '<!doctype html><title>%s</title><h1>%s</h1>\n' "$name" "$name" > /www/index.html

ip link set lo up
ip link set eth0 up
if ! udhcpc -i eth0 -n -q -t 5 -T 1 -s /etc/udhcpc/default.script >/dev/null 2>&1; then
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2
fi

httpd -p 80 -h /www
echo "scaleset-guest: $name serving on port 80"
# keep PID 1 alive; reap children
while :; do sleep 3600; done
INIT
chmod 755 "$root/init"

cat > "$root/etc/udhcpc/default.script" <<'DHCP'
#!/bin/sh
case "$1" in
    deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
    bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        for r in $router; do ip route add default via "$r" dev "$interface"; break; done
        ;;
esac
exit 0
DHCP
chmod 755 "$root/etc/udhcpc/default.script"

# /healthz is a static file "ok"; a failing guest has none (404).
# /cgi-bin/health?fail removes it and /cgi-bin/health?ok restores it, so a
# test can flip a running guest's health over HTTP.
cat > "$root/www/cgi-bin/health" <<'CGI'
#!/bin/sh
case "$QUERY_STRING" in
    fail) rm -f /www/healthz ;;
    ok)   echo ok > /www/healthz ;;
esac
if [ -e /www/healthz ]; then s=ok; else s=fail; fi
printf 'Content-Type: text/plain\r\n\r\n%s\n' "$s"
CGI
chmod 755 "$root/www/cgi-bin/health"

# reproducible archive: fixed mtimes, sorted names, numeric root owner
find "$root" -exec touch -h -d "@$EPOCH" {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | \
    cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n > "$STAGE/initramfs.gz"

cp "/boot/vmlinuz-$KVER" "$STAGE/vmlinuz"
install -m 0644 "$STAGE/vmlinuz" "$OUT/vmlinuz"
install -m 0644 "$STAGE/initramfs.gz" "$OUT/initramfs.gz"
echo "$KVER" > "$OUT/kernel-version"
chmod 0755 "$OUT"
echo "guest-image: $OUT/vmlinuz ($KVER), $OUT/initramfs.gz ($(wc -c < "$OUT/initramfs.gz") bytes)"
