# The guest of a VM node: the role's own image, plus a kernel and what a
# machine does for itself that the engine does for a container (mounts,
# addresses, hostname). The rootfs is exported from this image into an ext4
# disk (`mkfs.ext4 -d`), booted directly with the kernel and initrd below.
ARG ROLE
FROM ${ROLE}
ENV DEBIAN_FRONTEND=noninteractive
# A small initrd (a directly booted kernel needs only its disk's drivers):
# faster to unpack under software emulation.
# Its put-back step runs from the initrd at a grade of record (busybox
# gives it cmp and cp); the initrd is kept outside the guest's disk.
COPY initramfs-modules /etc/initramfs-tools/modules
COPY put-back /etc/initramfs-tools/scripts/local-bottom/plateau-put-back
RUN mkdir -p /etc/initramfs-tools/conf.d && echo MODULES=list > /etc/initramfs-tools/conf.d/plateau \
 && apt-get update -q && apt-get install -y -q --no-install-recommends linux-image-amd64 initramfs-tools busybox tini kmod isc-dhcp-client \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
COPY vm-init /usr/local/sbin/plateau-vm-init
COPY vm-channel /etc/plateau/start.d/95-vm-channel
COPY vm-screen /etc/plateau/start.d/96-vm-screen
# A machine keeps asking for a lease every 15 s (the default backs off to
# minutes: the candidate who just fixed the DHCP server would wait).
RUN printf 'timeout 30;\nretry 15;\n' >> /etc/dhcp/dhclient.conf
