#!/usr/bin/env bash
# Set up a Debian 12 machine (as root) for Clara: the real peer programs the
# tests and the demo lab drive, a virtualenv in .venv, and every distribution
# of the monorepo installed in it (editable). Safe to run again: it installs
# only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc pkg-config git
  # BMCs: IPMI simulator and the traditional clients
  openipmi ipmitool freeipmi-tools fping conman sshpass
  # gateways: the tests put each gateway in its own network namespace (ip netns)
  iproute2
  # libvirt (libvirt-python builds against libvirt-dev)
  libvirt-dev libvirt-clients libvirt-daemon
  # SLURM
  slurmctld slurmd slurm-client munge
  # repositories and package builds
  reprepro debmirror dpkg-dev gnupg gpgv apt-utils debhelper fakeroot build-essential
  sbuild cowbuilder
  # images, chroots, BitTorrent
  # RPM: EL images (dnf --installroot) and repositories (createrepo_c), test packages (rpmbuild)
  dnf rpm createrepo-c
  mmdebstrap debootstrap squashfs-tools uidmap arch-test dracut-core mktorrent opentracker aria2 openssh-server openssh-client
  # secrets (vim: the enc edit tests run a real editor)
  openssl vim
  # the scientific software stack (clara easybuild drives eb with Lmod)
  lmod
  # clara help <plugin> opens the man page when one is installed (tests generate them)
  man-db
  # the sudo re-exec of a non-root user (as the original did)
  sudo
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Services must not start at install time (no systemd here); the lab starts what it needs.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.clara-installed
if [ ! -f "$stamp" ] || [ -n "$(find . -name pyproject.toml -newer "$stamp" -not -path './.venv/*' -print -quit)" ] \
   || [ requirements-dev.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  # setuptools warns about editable installs at length: not our concern here
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  # Test-only plugins live outside the venv now (tests/conftest.py installs them per test run):
  # remove the copies an older setup put here, or every `clara` run would warn about the broken ones.
  .venv/bin/python -m pip uninstall -q -y clara-site-plugin clara-broken-plugin >/dev/null 2>&1 || true
  touch "$stamp"
fi
# Byte-compile the editable sources as a wheel install would: with PYTHONDONTWRITEBYTECODE set
# (as on some CI machines) every `clara` run would otherwise compile them again (~30 ms).
.venv/bin/python -m compileall -q -j 0 clara_core lab/clara_lab clara-*/clara_* backends/clara-*/clara_* >/dev/null
echo "setup: ready (.venv/bin/clara $(.venv/bin/clara --version | awk '{print $3}'))"
