#!/bin/sh
# /init of the cgroup v2 test VM: mount the basics, mount cgroup2 alone, delegate a
# subtree to the test user (as a batch scheduler's job cgroup would be), run the tests
# as that user, print the exit status, power off.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
# Stage 1: the initramfs root ("rootfs") cannot be pivot_root'ed away from, which every
# container runtime does. Re-root onto a tmpfs whose directories are bind mounts of the
# initramfs' (no copying) and run this script again there. The tmpfs is moved onto /
# (as switch_root does, minus deleting rootfs): a mere chroot would forbid user namespaces.
if [ ! -e /.rerooted ]; then
  mount -t tmpfs -o mode=755 reroot /mnt
  for d in /*; do
    n=${d#/}
    case $n in
      mnt | proc | sys | dev) mkdir -p "/mnt/$n" ;;
      *) if [ -d "$d" ] && [ ! -L "$d" ]; then
           mkdir "/mnt/$n" && mount --rbind "$d" "/mnt/$n"
         else
           cp -a "$d" /mnt/
         fi ;;
    esac
  done
  : > /mnt/.rerooted
  cd /mnt && mount --move . / && exec chroot . /init
fi
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /run /tmp
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
hostname rootless-vm
for m in /usr/lib/modules/extra/*.ko; do [ -e "$m" ] && insmod "$m" 2>/dev/null; done
chmod 0666 /dev/fuse /dev/net/tun 2>/dev/null
# The test disk: readable by the test user, as for a member of group disk.
chmod 0666 /dev/vda 2>/dev/null
ip link set lo up

U=rootless-test
uid=$(id -u $U)
mkdir -p /run/user/$uid && chown $U: /run/user/$uid && chmod 700 /run/user/$uid
echo "+cpu +cpuset +io +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
job=/sys/fs/cgroup/job
mkdir $job
chown $U: $job $job/cgroup.procs $job/cgroup.subtree_control $job/cgroup.threads
echo $$ > $job/cgroup.procs

cmd=$(cat /etc/rootless-vm-cmd)
echo "ROOTLESS-VM-START"
runuser -u $U -- env -i HOME=/home/$U USER=$U PATH=$PATH LANG=C.UTF-8 \
  XDG_RUNTIME_DIR=/run/user/$uid PYTHONPATH=/opt/rootless:/opt/pylib \
  PYTHONDONTWRITEBYTECODE=1 ROOTLESS_IN_VM=1 sh -c "cd /opt/rootless && $cmd"
echo "ROOTLESS-VM-EXIT=$?"
sync
echo o > /proc/sysrq-trigger
sleep 5
