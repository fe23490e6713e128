#!/usr/bin/env bash
# The GPU check of issue 29, in one run of about 7 minutes on a lent GPU machine (its own python3
# has torch + CUDA, torchvision, transformers, sentence-transformers; nothing is installed):
#
#   device tool:  bash bench/gpu_check.sh      (timeout_s 480; figures come back under $OUT)
#
# 1. nvJPEG + tensor preprocessing on the GPU against the role's processor on the same JPEGs
#    (the part the CPU tests cannot check: nvJPEG's own decode), written to $OUT/nvjpeg_check.json;
# 2. bench/models.py on CUDA, one role at a time (a role that fails or runs out of time loses
#    only itself): the production chain at several batch sizes beside the bare model (bf16) and
#    the data path, merged into $OUT/model_figures.json under source "gpu-<card>-<date>".
# Copy $OUT/model_figures.json over bench/model_figures.json (it keeps the other sources), then
# `bench/cost.py --gpu-source gpu-<card>-<date>` prices the GPU instances from measurements once
# a priced instance type carries that card (see INSTANCES in bench/cost.py).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
cp bench/model_figures.json "$OUT/model_figures.json"
CARD="$($PY -c 'import torch; print(torch.cuda.get_device_name(0).split()[-1].lower() if torch.cuda.is_available() else "none")')"
SOURCE="gpu-${CARD}-$(date +%F)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"

timeout 60 "$PY" - "$OUT/nvjpeg_check.json" <<'EOF' || echo "nvjpeg check failed or timed out"
import io, json, sys
sys.path.insert(0, "model_artifacts/_shared")
import numpy as np, torch
from PIL import Image
from transformers import CLIPImageProcessorPil
import mm_images

rng = np.random.default_rng(0)
def jpeg(h, w, mode="RGB"):
    y, x = np.mgrid[0:h, 0:w]
    a = np.clip(np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (h + w)], -1) + rng.normal(0, 12, (h, w, 3)), 0, 255)
    b = io.BytesIO(); Image.fromarray(a.astype(np.uint8)).convert(mode).save(b, "JPEG", quality=90); return b.getvalue()
datas = [jpeg(480, 640), jpeg(640, 480), jpeg(300, 500, "L"), jpeg(256, 256, "CMYK"), b"\x89PNG broken"]
processor = CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
recipe = mm_images.PixelRecipe.of(processor)
report = {}
try:
    mm_images.images_to_pixels(datas, processor, "cuda", torch.float32, positions=list(range(len(datas))))
except Exception as exc:  # the broken PNG must fail alone, named
    report["corrupt_item_error"] = str(exc)
good = datas[:4]
gpu, _ = mm_images.images_to_pixels(good, processor, "cuda", torch.float32)
cpu, _ = mm_images.processor_pixels(good, processor)
levels = ((gpu.cpu() - cpu).abs() / (recipe.scale / torch.tensor(recipe.std).view(1, 3, 1, 1))).round()
report.update(max_levels=float(levels.max()), share_over_tolerance=float((levels > mm_images.PIXEL_TOLERANCE_LEVELS).float().mean()),
              per_image_max_levels=[float(v) for v in levels.amax(dim=(1, 2, 3))],
              nvjpeg_items=[mm_images.nvjpeg_reads(d) for d in good])
print(json.dumps(report, indent=1)); json.dump(report, open(sys.argv[1], "w"), indent=1)
EOF

run_role() {  # role, sizes, seconds
  timeout "$3" "$PY" bench/models.py --roles "$1" --sizes "$2" --figures-out "$OUT/model_figures.json" \
    --source "$SOURCE" 2>&1 | grep -v "Warning\|max_new_tokens\|Loading weights" | tee "$OUT/models-$1.log" \
    || echo "$1: failed or timed out after $3 s"
}
run_role image_embedding 1,32,128,256 110
run_role text_embedding 32,128,256 80
run_role generation 8,32,64 90
run_role speech 8,32,64 90
echo "figures: $OUT/model_figures.json (source $SOURCE)"
