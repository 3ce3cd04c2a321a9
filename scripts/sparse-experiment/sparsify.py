"""The sparse-weights measurement of docs/compression.md: copies a `zantc bench` harness
(SRC, a folder under the bench's work dir) to DST and rewrites its model.rs so that the
fully connected layers (MatMul with one row) and the k×k stride-1 convolutions run on the
sparse kernels of sparse.rs, their nonzero weights in static arrays (CSR by output column
with u8 row indices for a layer; per output channel, u16 tap indices for a convolution).
Prints the density of each layer and the bytes of the sparse storage against the dense
weights it replaces. Needs numpy (the venv of scripts/setup-ort.sh).

    python sparsify.py SRC DST"""
import re, struct, sys, shutil, os
import numpy as np

src, dst = sys.argv[1], sys.argv[2]
if os.path.exists(dst):
    shutil.rmtree(dst)
shutil.copytree(src, dst)
model = open(os.path.join(dst, "src/model.rs")).read()
blob = open(os.path.join(dst, "src/weights.bin"), "rb").read()

def weights(off, n):
    return np.frombuffer(blob, dtype="<f4", count=n, offset=off)

def lit(a, ty):
    if ty == "f32":
        return ", ".join("%.9g" % v if np.isfinite(v) else "0.0" for v in a)
    return ", ".join(str(int(v)) for v in a)

data = []
dense_bytes = sparse_bytes = 0
k = 0

def fc_sub(m):
    global k, dense_bytes, sparse_bytes
    x, K, off, n, bias, act, y = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(7), m.group(8), m.group(9)
    N = int(m.group(6))
    w = weights(off, n).reshape(K, N)
    values, index, starts = [], [], [0]
    for j in range(N):
        col = w[:, j]
        nz = np.nonzero(col)[0]
        values.extend(col[nz]); index.extend(nz); starts.append(len(values))
    assert K <= 256 and len(values) < 65536
    data.append(f"pub static FC{k}_VALUES: [f32; {len(values)}] = [{lit(values, 'f32')}];")
    data.append(f"pub static FC{k}_INDEX: [u8; {len(index)}] = [{lit(index, 'u8')}];")
    data.append(f"pub static FC{k}_STARTS: [u16; {len(starts)}] = [{lit(starts, 'u16')}];")
    dense_bytes += 4 * n
    sparse_bytes += 5 * len(values) + 2 * len(starts)
    relu = "true" if act.endswith("Relu") else "false"
    out = (f"crate::sparse::fc({x}, &crate::sparse_data::FC{k}_VALUES, &crate::sparse_data::FC{k}_INDEX, "
           f"&crate::sparse_data::FC{k}_STARTS, {bias}, {relu}, {y});")
    print(f"FC{k}: {K}x{N}, {len(values)} nonzero of {n} ({len(values)/n:.0%})")
    k += 1
    return out

fc_re = re.compile(r"rt::gemm::matmul\(\s*(.+?),\s*&\[1, (\d+)\],\s*rt::arena::slice::<f32>\(&WEIGHTS\.0, (\d+), (\d+)\),\s*&\[(\d+), (\d+)\],\s*Some\((rt::arena::slice::<f32>\(&WEIGHTS\.0, \d+, \d+\))\),\s*(rt::Activation::\w+),\s*(\w+),\s*&\[1, \d+\],\s*\);", re.S)
model = fc_re.sub(fc_sub, model)

c = 0
def conv_sub(m):
    global c, dense_bytes, sparse_bytes
    geo = dict(re.findall(r"(\w+): (\d+)", m.group(1)))
    geo = {a: int(b) for a, b in geo.items()}
    x, off, n, bias, act = m.group(2), int(m.group(3)), int(m.group(4)), m.group(5), m.group(6)
    assert geo["stride_h"] == 1 and geo["k_h"] == geo["k_w"] and geo["pad_top"] == geo["pad_left"] and geo["groups"] == 1
    M, C, K = geo["c_out"], geo["c_in"], geo["k_h"]
    w = weights(off, n).reshape(M, C * K * K)
    values, taps, starts = [], [], [0]
    for mo in range(M):
        nz = np.nonzero(w[mo])[0]
        values.extend(w[mo][nz]); taps.extend(nz); starts.append(len(values))
    data.append(f"pub static CONV{c}_VALUES: [f32; {len(values)}] = [{lit(values, 'f32')}];")
    data.append(f"pub static CONV{c}_TAPS: [u16; {len(taps)}] = [{lit(taps, 'u16')}];")
    data.append(f"pub static CONV{c}_STARTS: [u16; {len(starts)}] = [{lit(starts, 'u16')}];")
    dense_bytes += 4 * n
    sparse_bytes += 6 * len(values) + 2 * len(starts)
    relu = "true" if act.endswith("Relu") else "false"
    print(f"CONV{c}: {M}x{C}x{K}x{K}, {len(values)} nonzero of {n} ({len(values)/n:.0%})")
    out = (f"let _ = scratch; crate::sparse::conv({x}, {C}, {geo['h_in']}, {geo['w_in']}, {K}, {geo['pad_top']}, "
           f"&crate::sparse_data::CONV{c}_VALUES, &crate::sparse_data::CONV{c}_TAPS, &crate::sparse_data::CONV{c}_STARTS, "
           f"{bias}, {relu}, y);")
    c += 1
    return out

conv_re = re.compile(r"rt::conv::conv2d_\w+\(\s*&rt::conv::Conv2d \{(.*?)\},\s*(.+?),\s*rt::arena::slice::<f32>\(&WEIGHTS\.0, (\d+), (\d+)\),\s*Some\((rt::arena::slice::<f32>\(&WEIGHTS\.0, \d+, \d+\))\),\s*(rt::Activation::\w+),\s*scratch,\s*y,\s*\);", re.S)
model = conv_re.sub(conv_sub, model)
open(os.path.join(dst, "src/model.rs"), "w").write(model)
open(os.path.join(dst, "src/sparse_data.rs"), "w").write("#![allow(clippy::all)]\n" + "\n".join(data) + "\n")
shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sparse.rs"), os.path.join(dst, "src/sparse.rs"))
main = open(os.path.join(dst, "src/main.rs")).read()
main = main.replace('include!("model.rs");', 'include!("model.rs");\nmod sparse;\nmod sparse_data;', 1)
open(os.path.join(dst, "src/main.rs"), "w").write(main)
print(f"dense weights replaced: {dense_bytes} B; sparse storage: {sparse_bytes} B")
