#!/bin/sh
# PP-OCRv4's text detector exported again with fp32 weights: pnnx's default (fp16=1) flushes every
# weight below fp16's smallest normal to zero, and the shared ppocrv4_det.ncnn.bin lost 94.8 % of
# its head convolution that way (README, "ncnnq int8 versus ncnn2int8"). The same ONNX file and
# pnnx version as the shared file (../shared/data/reference/README.md), with fp16=0; the .param
# comes out byte for byte the same.
#
#   benches/ppocr_reexport.sh OUT_DIR   ->  OUT_DIR/ppocrv4_det.ncnn.{param,bin}
#   python benches/ppocr_int8.py --model OUT_DIR/ppocrv4_det.ncnn.param ...
set -eu
out=${1:?usage: benches/ppocr_reexport.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
venv="$out/.venv"
[ -x "$venv/bin/pnnx" ] || {
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q rapidocr-onnxruntime==1.4.4 pnnx==20261020
}
onnx=$("$venv/bin/python" -c 'import pathlib, rapidocr_onnxruntime as r
print(pathlib.Path(r.__file__).parent / "models" / "ch_PP-OCRv4_det_infer.onnx")')
work="$out/pnnx"
mkdir -p "$work"
cp "$onnx" "$work/"
(cd "$work" && "$venv/bin/pnnx" ch_PP-OCRv4_det_infer.onnx 'inputshape=[1,3,640,640]' fp16=0 >pnnx.log 2>&1)
mv "$work/ch_PP_OCRv4_det_infer.ncnn.param" "$out/ppocrv4_det.ncnn.param"
mv "$work/ch_PP_OCRv4_det_infer.ncnn.bin" "$out/ppocrv4_det.ncnn.bin"
echo "$out/ppocrv4_det.ncnn.param"
