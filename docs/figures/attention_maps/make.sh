#!/usr/bin/env bash
# The figures of docs/attention_maps.md: train one model per mechanism (the study in this folder), then draw
# what each attends to on test image 0 of Fashion-MNIST (a boot), with the rollout where layers share tokens.
#   bash docs/figures/attention_maps/make.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=docs/figures/attention_maps
.venv/bin/attnzoo study $out/study.yaml --output studies
for run in vit_cifar vit_linformer_cifar vit_performer_cifar vit_nystrom_cifar vit_dilated_linear_cifar tnt_small; do
  .venv/bin/attnzoo attention-map --checkpoint studies/attention_maps/$run/weights --sample 0 --rollout \
    --output $out/$run.png
done
.venv/bin/attnzoo attention-map --checkpoint studies/attention_maps/perceiver_io_cifar/weights --sample 0 \
  --output $out/perceiver_io_cifar.png
for run in lambda_resnet_tiny_cifar mixformer_tiny_cifar swin_small; do
  .venv/bin/attnzoo attention-map --checkpoint studies/attention_maps/$run/weights --sample 0 --layer 0 \
    --query 7 7 --output $out/$run.png
done
