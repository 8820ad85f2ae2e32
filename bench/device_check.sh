# The GPU checks of issues 18 and 20 as one script, for a lent CUDA machine (or DEVICE=cpu to try it here).
#
#   bash bench/device_check.sh MODEL_DIR SKILLS_DIR [LEVELS] [TOKENS] [N_TRAIN]
#
# MODEL_DIR: a model directory; when it holds no weights (config and tokenizer only, what fits the
# device tool's 64 MiB), bench/random_model.py fills it with random bf16 weights first.
# SKILLS_DIR: ssr_superni/ (only the pe, sum and qg files are read). Outputs go to $OUT. Where the
# embedder package is missing, set PALIMPSEST_EMBEDDER to a copy of its model folder: the server loads
# it at start-up, and without weights there it gets random ones too (chat without memory never uses it).
set -u
MODEL=$1; SKILLS=$2; LEVELS=${3:-1,4,16,64}; TOKENS=${4:-64}; NTRAIN=${5:-200}
DEVICE=${DEVICE:-cuda}; PY=${PY:-python3}; OUT=${OUT:-/tmp/device_check}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
if ! ls "$MODEL"/*.safetensors >/dev/null 2>&1; then
  $PY bench/random_model.py "$MODEL" /tmp/random_model || exit 1
  MODEL=/tmp/random_model
fi
EMBEDDER=${PALIMPSEST_EMBEDDER:-}
if [ -n "$EMBEDDER" ] && ! ls "$EMBEDDER"/*.safetensors >/dev/null 2>&1; then
  $PY bench/random_model.py "$EMBEDDER" /tmp/random_embedder || exit 1
  export PALIMPSEST_EMBEDDER=/tmp/random_embedder
fi
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"
timeout 240 $PY bench/serve_load.py --model "$MODEL" --device "$DEVICE" --dtype bfloat16 --levels "$LEVELS" \
  --tokens "$TOKENS" --queue 32 > "$OUT/serve_load.txt" 2>&1
echo "serve_load rc=$?"; tail -8 "$OUT/serve_load.txt"
timeout 330 $PY -m serving.cli eval skills --tasks "$SKILLS" --order pe,sum,qg --strategy none,replay \
  --n-train "$NTRAIN" --n-eval 40 --model "$MODEL" --device "$DEVICE" --out "$OUT/skills.json" > "$OUT/skills.txt" 2>&1
echo "skills rc=$?"; grep '^\[' "$OUT/skills.txt"
