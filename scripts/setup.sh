#!/usr/bin/env bash
# Set up a fresh machine (safe to run again): Debian's Fashion-MNIST, a virtual environment in .venv with
# torch 2.14.1 / torchvision 0.29.1 and timm_attnzoo with its dev extra, and the data laid out for timm in data/.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq dataset-fashion-mnist
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install -q -e '.[dev]'
.venv/bin/attnzoo prepare-data --root data
