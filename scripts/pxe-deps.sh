#!/usr/bin/env bash
# Installs the Debian packages test/e2e-pxe.test.ts needs (root; idempotent: installs only what is missing).
#
#   qemu-system-x86  the VMs (TCG; no KVM needed)
#   ipxe-qemu        the iPXE ROM SeaBIOS runs for a virtio NIC (/usr/lib/ipxe/qemu/efi-virtio.rom)
#   ipxe             undionly.kpxe, ipxe.efi, snponly.efi, served by vaquero standalone (/usr/lib/ipxe)
#   ovmf             UEFI firmware (/usr/share/OVMF/OVMF_CODE_4M.fd, OVMF_VARS_4M.fd)
#   cpio             packs the initramfs
#   iproute2         namespaces, bridge, taps
#   curl             reads the agent's status from inside the namespace
#
# busybox-static and the cloud kernel are NOT installed (busybox-static would replace Debian's busybox, which
# the DHCP tests use): test/_helpers/pxe-image.ts fetches them with `apt-get download` into .cache/pxe/. This
# script only makes sure the package lists know them.
set -euo pipefail

packages=(qemu-system-x86 ipxe-qemu ipxe ovmf cpio iproute2 curl)

if [ "$(id -u)" != "0" ]; then
  echo "pxe-deps: must run as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done

updated=0
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  updated=1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# apt-get download needs package lists that know these two.
if ! apt-cache show --no-all-versions busybox-static linux-image-cloud-amd64 >/dev/null 2>&1; then
  [ "$updated" = 1 ] || apt-get update -qq
  apt-cache show --no-all-versions busybox-static linux-image-cloud-amd64 >/dev/null
fi

echo "pxe-deps: ok (${#missing[@]} installed: ${missing[*]:-none})"
