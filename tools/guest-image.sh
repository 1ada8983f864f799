#!/bin/sh
# Builds the tiny scaleset test guest into OUT (default build/guest):
#   vmlinuz        the kernel of Debian's linux-image-cloud-amd64
#   initramfs.gz   busybox-static + the virtio modules + /init, a cpio.gz
#                  built reproducibly (fixed mtimes, sorted entries, newc)
#   image-1.qcow2, image-2.qcow2
#                  two base images (1 MiB, qcow2) for the instances' disk
#                  (template.volume's base): their first sector says
#                  "scaleset-image N", which the guest reads from /dev/vda
#                  and names on its page, so an upgrade from one base
#                  image to the other shows in every answer
# The guest brings up eth0 (DHCP from qemu user networking, static
# 10.0.2.15/24 as fallback) and serves HTTP on port 80 with busybox httpd:
#   /healthz  200 "ok"; 404 when the kernel command line carries
#             scaleset.health=fail or after GET /cgi-bin/health?fail
#             (GET /cgi-bin/health?ok restores it)
#   /cgi-bin/slow?N   a long request: its head at once, then a line a
#             second for N seconds (1-120, default 5), then "done"
#   /         a page naming the instance (scaleset.name=NAME on the cmdline)
#             and its base image ("image N" from its disk; "image none"
#             for a disk without the label)
#   /image    the base image's name alone
# and reads its NoCloud seed as cloud-init would for script user-data:
# the block device labelled cidata (findfs; a virtio-scsi cdrom:
# docs/bootstrap.md)
# is mounted read-only at /cidata, the hostname comes from local-hostname
# and /www/instance-id from instance-id in meta-data, and a user-data that
# starts with #! is run once before httpd starts (its output in
# /tmp/user-data.log).
#   /cgi-bin/load?...   load switches for the host-side metrics tests:
#             mem=MIB   hold MIB MiB of the guest's memory (0 frees it)
#             cpu=on|off   keep the vCPU busy
#             net=on|off   send ICMP out of the second NIC (1400 bytes a ms,
#                          ~3 Mbit/s under TCG)
#                          (to a neighbour entry of its own on a link-local
#                          /30: the frames end at the host's tap, which has
#                          no address and no bridge, so they go nowhere)
#             answers with the switches in force: "mem=N cpu=on|off net=on|off"
# The ACPI power button (virDomainShutdown) powers it off at once: a
# watcher per "Power Button" input device (button + evdev) reads one event
# from its /dev/input/eventN, syncs and runs poweroff -f (reboot(2): PID 1
# is this shell, not an init that would act on a signal), unless the
# kernel's command line has scaleset.acpi=off (then it ignores ACPI).
# The virtio balloon driver is loaded, so with a stats period on the
# domain's <memballoon> libvirt reports the guest's memory statistics.
# The uplink (DHCP, port 80) is the NIC with qemu's default MAC
# 52:54:00:12:34:56 (the user-mode NIC of conf-examples/qemu-domain.xml),
# else eth0; the first other NIC is the one net=on sends on.
# Everything comes from Debian packages: linux-image-cloud-amd64,
# busybox-static, cpio, qemu-utils (qemu-img).
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
         "$root/dev" "$root/tmp" "$root/run" "$root/www/cgi-bin" "$root/lib/modules" "$root/root"
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"

# modules in load order: the deps of each (from modules.dep) first
# (button and evdev: the ACPI power button as an input device)
want="virtio_pci virtio_net virtio_blk virtio_balloon virtio_scsi sr_mod isofs button evdev"
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
mkdir -p /run/mem && mount -t ramfs ramfs /run/mem
while read m; do insmod /lib/modules/$m 2>/dev/null; done < /lib/modules/order

# the ACPI power button (virDomainShutdown): any event read from a "Power
# Button" input device powers the guest off (one 24-byte input_event);
# scaleset.acpi=off on the kernel's command line: ignored (a guest that
# never powers off by itself, destroyed at termination.shutdown_timeout)
pwr=0
grep -qw scaleset.acpi=off /proc/cmdline ||
for e in /sys/class/input/event*; do
    [ "$(cat "$e/device/name" 2>/dev/null)" = "Power Button" ] || continue
    [ -c "/dev/input/${e##*/}" ] || continue
    (dd if="/dev/input/${e##*/}" of=/dev/null bs=24 count=1 2>/dev/null &&
     echo "scaleset-guest: ACPI power button: powering off" > /dev/console &&
     sync && poweroff -f) </dev/null >/dev/null 2>&1 &
    pwr=$((pwr + 1))
done
echo "scaleset-guest: $pwr power button watcher(s)"

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
# the base image, from the label in the disk's first sector (the disk
# may take a moment to appear after virtio_blk)
for i in 1 2 3 4 5; do [ -b /dev/vda ] && break; sleep 1; done
image=$(dd if=/dev/vda bs=64 count=1 2>/dev/null | tr -d '\000' \
        | sed -n 's/^scaleset-image \([A-Za-z0-9._-]*\).*/\1/p')
echo "${image:-none}" > /www/image
printf '<!doctype html><title>%s</title><h1>%s</h1><p>image %s</p>\n' \
    "$name" "$name" "${image:-none}" > /www/index.html

# the NoCloud seed: with a virtio-scsi controller, wait (10 s at most) for
# the volume labelled cidata (busybox's findfs reads the label as
# cloud-init's ds-identify does with blkid)
seed=
if ls /sys/bus/virtio/drivers/virtio_scsi 2>/dev/null | grep -q virtio; then
    i=0
    while [ $i -lt 100 ]; do
        seed=$(findfs LABEL=cidata 2>/dev/null || findfs LABEL=CIDATA 2>/dev/null)
        [ -n "$seed" ] && break
        sleep 0.1
        i=$((i + 1))
    done
fi
if [ -n "$seed" ] && mkdir -p /cidata && mount -t iso9660 -o ro "$seed" /cidata; then
    md() { sed -n "s/^$1:[[:space:]]*//p" /cidata/meta-data 2>/dev/null | head -n 1 | tr -d "\"'\r"; }
    iid=$(md instance-id)
    lh=$(md local-hostname)
    [ -n "$lh" ] && hostname "$lh"
    echo "${iid:-none}" > /www/instance-id
    echo "${lh:-$name}" > /www/hostname
    if head -c 2 /cidata/user-data 2>/dev/null | grep -q '^#!'; then
        cp /cidata/user-data /tmp/user-data
        chmod 700 /tmp/user-data
        /tmp/user-data > /tmp/user-data.log 2>&1
        echo "scaleset-guest: user-data exited $?"
    fi
    echo "scaleset-guest: seed $seed instance-id ${iid:-none}"
fi

# the uplink: qemu's default MAC (user-mode NIC), else eth0; the first
# other NIC carries the net=on load
up=eth0 spare=
for d in /sys/class/net/eth*; do
    [ -e "$d" ] || continue
    [ "$(cat $d/address)" = 52:54:00:12:34:56 ] && up=${d##*/}
done
for d in /sys/class/net/eth*; do
    [ -e "$d" ] && [ "${d##*/}" != "$up" ] && { spare=${d##*/}; break; }
done
echo "$spare" > /run/spare-nic

ip link set lo up
ip link set "$up" up
if ! udhcpc -i "$up" -n -q -t 5 -T 1 -s /etc/udhcpc/default.script >/dev/null 2>&1; then
    ip addr add 10.0.2.15/24 dev "$up"
    ip route add default via 10.0.2.2
fi
if [ -n "$spare" ]; then
    ip link set "$spare" up
    ip addr add 169.254.77.2/30 dev "$spare"
    arp -i "$spare" -s 169.254.77.1 02:00:00:77:00:01
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

# a long request (see the top): a line a second, so a proxy's read
# timeout between reads does not end it
cat > "$root/www/cgi-bin/slow" <<'CGI'
#!/bin/sh
n=$QUERY_STRING
case "$n" in ''|*[!0-9]*) n=5 ;; esac
[ "$n" -ge 1 ] && [ "$n" -le 120 ] || n=5
printf 'Content-Type: text/plain\r\n\r\n'
i=0
while [ $i -lt $n ]; do sleep 1; i=$((i + 1)); echo "$i"; done
echo done
CGI
chmod 755 "$root/www/cgi-bin/slow"

# load switches (see the top): the memory is a file on a ramfs (not
# reclaimable, no size limit: the guest's MemAvailable drops by its size),
# the
# loads are detached children whose PIDs are kept in /run
cat > "$root/www/cgi-bin/load" <<'CGI'
#!/bin/sh
stop() { [ -f /run/$1.pid ] && kill $(cat /run/$1.pid) 2>/dev/null; rm -f /run/$1.pid; }
for kv in $(echo "$QUERY_STRING" | tr '&' ' '); do
    case "$kv" in
        mem=*)
            n=${kv#mem=}
            case "$n" in ''|*[!0-9]*) n=0 ;; esac
            rm -f /run/mem/fill
            [ "$n" -gt 0 ] && dd if=/dev/zero of=/run/mem/fill bs=1M count=$n 2>/dev/null
            echo "$n" > /run/mem.mib ;;
        cpu=on)
            [ -f /run/cpu.pid ] || { setsid sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 & echo $! > /run/cpu.pid; } ;;
        cpu=off) stop cpu ;;
        net=on)
            nic=$(cat /run/spare-nic)
            [ -n "$nic" ] && { [ -f /run/net.pid ] || { setsid ping -q -s 1400 -i 0.001 -I "$nic" 169.254.77.1 </dev/null >/dev/null 2>&1 & echo $! > /run/net.pid; }; } ;;
        net=off) stop net ;;
    esac
done
on() { [ -f /run/$1.pid ] && echo on || echo off; }
printf 'Content-Type: text/plain\r\n\r\nmem=%s cpu=%s net=%s\n' "$(cat /run/mem.mib 2>/dev/null || echo 0)" "$(on cpu)" "$(on net)"
CGI
chmod 755 "$root/www/cgi-bin/load"

# reproducible archive: fixed mtimes, sorted names, numeric root owner
find "$root" -exec touch -h -d "@$EPOCH" {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | \
    cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n > "$STAGE/initramfs.gz"

cp "/boot/vmlinuz-$KVER" "$STAGE/vmlinuz"
install -m 0644 "$STAGE/vmlinuz" "$OUT/vmlinuz"
install -m 0644 "$STAGE/initramfs.gz" "$OUT/initramfs.gz"

# the two base images: 1 MiB, the label in the first sector
command -v qemu-img >/dev/null || { echo "guest-image: qemu-img missing (make deps)" >&2; exit 1; }
for n in 1 2; do
    head -c 1048576 /dev/zero > "$STAGE/image-$n.raw"
    printf 'scaleset-image %s\n' "$n" \
        | dd of="$STAGE/image-$n.raw" conv=notrunc status=none
    qemu-img convert -q -f raw -O qcow2 "$STAGE/image-$n.raw" "$STAGE/image-$n.qcow2"
    install -m 0644 "$STAGE/image-$n.qcow2" "$OUT/image-$n.qcow2"
done
echo "$KVER" > "$OUT/kernel-version"
chmod 0755 "$OUT"
echo "guest-image: $OUT/vmlinuz ($KVER), $OUT/initramfs.gz ($(wc -c < "$OUT/initramfs.gz") bytes), $OUT/image-1.qcow2, $OUT/image-2.qcow2"
