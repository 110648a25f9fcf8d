# Helpers shared by scripts/demo and scripts/test.

need_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is not installed; install the Rust toolchain (rustup) first" >&2
    exit 2
  fi
}

# The base image is a Debian rootfs made on the host with debootstrap.
# The console's browser test drives a real headless Chromium and reads the
# PDF grid with pdftotext.
need_browser() {
  command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v pdftotext >/dev/null && command -v asciinema >/dev/null && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "== installing chromium, chromium-driver, poppler-utils, asciinema (apt-get)"
    apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver poppler-utils asciinema >/dev/null
  else
    echo "error: the browser test needs: sudo apt-get install chromium chromium-driver poppler-utils asciinema" >&2
    exit 2
  fi
}

# The VM image pipeline's host tools: qemu-img (and mkfs.ext4, always there).
need_qemu_img() {
  command -v qemu-img >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "== installing qemu-utils (apt-get)"
    apt-get update -q >/dev/null && apt-get install -y -q qemu-utils >/dev/null
  else
    echo "error: qemu-img is missing; run: sudo apt-get install qemu-utils" >&2
    exit 2
  fi
}

# The WinRM cross-check reads recorded Windows answers with pywinrm too.
need_pywinrm() {
  python3 -c 'import winrm' >/dev/null 2>&1 && return 0
  echo "== installing pywinrm (pip)"
  python3 -m pip install -q pywinrm >/dev/null
}

need_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "== installing debootstrap (apt-get)"
    apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null
  else
    echo "error: debootstrap is missing; run: sudo apt-get install debootstrap" >&2
    exit 2
  fi
}
