#!/usr/bin/env bash
# Installs the system libraries that headless MuJoCo rendering (MUJOCO_GL=egl, as set by
# darts_rl/envs/dmc.py) needs, and only those that are missing. Idempotent: when everything is
# present it prints one line and exits 0 without touching apt. Debian/Ubuntu only.
#
#   sudo scripts/install_sysdeps.sh      # or as root in a container
#
# Exit status: 0 libraries present (or installed), 1 missing and cannot install (not root, no
# apt-get, or still missing after installing).
set -euo pipefail

# Shared library (as ldconfig lists it) -> Debian/Ubuntu package that provides it.
declare -A LIB_PACKAGE=(
  [libEGL.so.1]=libegl1             # glvnd EGL loader that PyOpenGL/MuJoCo open
  [libEGL_mesa.so.0]=libegl-mesa0   # Mesa's EGL vendor: a software device when there is no GPU
  [libOpenGL.so.0]=libopengl0       # GL entry points PyOpenGL loads on the EGL platform
  [libGLdispatch.so.0]=libglvnd0    # glvnd dispatch used by both of the above
  [libgbm.so.1]=libgbm1             # needed by libEGL_mesa
)
# Mesa's software rasterizer is a DRI driver, which ldconfig does not list: look for the file.
SWRAST_GLOBS=(/usr/lib/*/dri/swrast_dri.so /usr/lib/dri/swrast_dri.so /usr/lib64/dri/swrast_dri.so)
SWRAST_PACKAGE=libgl1-mesa-dri

ldconfig_bin=$(command -v ldconfig || echo /sbin/ldconfig)

missing_packages() {
  local sonames
  sonames=$("$ldconfig_bin" -p | awk 'NR > 1 {print $1}')
  local lib
  for lib in "${!LIB_PACKAGE[@]}"; do
    grep -qxF "$lib" <<<"$sonames" || echo "${LIB_PACKAGE[$lib]}"
  done
  local pattern
  for pattern in "${SWRAST_GLOBS[@]}"; do
    compgen -G "$pattern" >/dev/null && return 0
  done
  echo "$SWRAST_PACKAGE"
}

mapfile -t missing < <(missing_packages | sort -u)
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install_sysdeps: EGL/Mesa libraries for headless MuJoCo rendering already present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install_sysdeps: missing packages ${missing[*]}; rerun as root (sudo $0)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "install_sysdeps: missing packages ${missing[*]} and no apt-get to install them" >&2
  exit 1
fi

echo "install_sysdeps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

mapfile -t still_missing < <(missing_packages | sort -u)
if [[ ${#still_missing[@]} -ne 0 ]]; then
  echo "install_sysdeps: still missing after install: ${still_missing[*]}" >&2
  exit 1
fi
echo "install_sysdeps: done"
