//! MultiHeadAttention (torch.nn.MultiheadAttention as ncnn runs it): project q/k/v, scaled dot
//! products per head, optional additive mask, softmax, weighted sum, output projection.
//!
//! Bottoms: q [, k [, v]] [, `attn_mask`] [, `cached_k`, `cached_v`]; a single q means
//! self-attention, q and k means v = k. With `kv_cache` the projected keys/values (`embed_dim` rows
//! × sequence × `head_dim`, as ncnn's x86 kernels lay them out) are also returned so the caller can
//! feed them back on the next step.

use super::{Context, Op, Params};
use crate::base::alloc;
use crate::base::{Activation, Shape, Tensor};
use crate::error::Result;
use crate::kernels::gemm_f32::{self, Epilogue, PackedA};
use crate::model::Layer;
use std::sync::Arc;

struct MultiHeadAttention {
    embed_dim: usize,
    num_heads: usize,
    qdim: usize,
    kdim: usize,
    vdim: usize,
    attn_mask: bool,
    kv_cache: bool,
    scale: f32,
    q_weight: PackedA,
    q_bias: Vec<f32>,
    k_weight: PackedA,
    k_bias: Vec<f32>,
    v_weight: PackedA,
    v_bias: Vec<f32>,
    out_weight: PackedA,
    out_bias: Vec<f32>,
}

fn transpose(x: &[f32], rows: usize, cols: usize) -> Result<Vec<f32>> {
    let mut t = alloc::zeroed(x.len())?;
    for (i, row) in x.chunks(cols.max(1)).enumerate().take(rows) {
        for (j, &v) in row.iter().enumerate() {
            t[j * rows + i] = v;
        }
    }
    Ok(t)
}

/// Bottom indices: (q, k, v, mask, `cached_k`, `cached_v`).
fn bottom_indices(count: usize, mask: bool, kv_cache: bool) -> Option<[usize; 6]> {
    let extra = usize::from(mask) + 2 * usize::from(kv_cache);
    let (k, v) = match count.checked_sub(extra)? {
        1 => (0, 0),
        2 => (1, 1),
        3 => (1, 2),
        _ => return None,
    };
    let first_extra = count - extra;
    let mask_i = first_extra;
    let cache_i = first_extra + usize::from(mask);
    Some([0, k, v, mask_i, cache_i, cache_i + 1])
}

impl MultiHeadAttention {
    /// weight (`embed_dim` × dim) · xᵀ + bias, as `embed_dim` rows × seqlen.
    fn project(
        &self,
        w: &PackedA,
        bias: &[f32],
        x: &Tensor,
        dim: usize,
        ctx: &Context,
        what: &str,
    ) -> Result<Vec<f32>> {
        if x.shape.dims != 2 || x.shape.w != dim {
            return Err(ctx.shape_error(format!("{what} must be seqlen×{dim}, got {}", x.shape)));
        }
        let seqlen = x.shape.h;
        let xt = transpose(x.f32(), seqlen, dim)?;
        let mut out = alloc::zeroed(self.embed_dim * seqlen)?;
        gemm_f32::gemm(w, &xt, seqlen, &mut out, Epilogue { bias: Some(bias), activation: Activation::Identity });
        Ok(out)
    }

    /// Projected keys or values over past + current positions, `embed_dim` rows × `dst_seqlen`.
    /// The cache blobs are laid out as ncnn's x86 kernels keep them: heads × seqlen × `head_dim`.
    fn keys_or_values(
        &self,
        cached: Option<&Tensor>,
        fresh: Option<Vec<f32>>,
        cur: usize,
        ctx: &Context,
    ) -> Result<(Vec<f32>, usize)> {
        let d = self.embed_dim / self.num_heads;
        let past = cached.filter(|c| !c.shape.is_empty());
        if let Some(c) = past {
            if c.shape.dims != 3 || c.shape.c != self.num_heads || c.shape.w != d {
                return Err(ctx.shape_error(format!(
                    "the kv cache must be {} heads × seqlen × {d}, got {}",
                    self.num_heads, c.shape
                )));
            }
        }
        let past_len = past.map_or(0, |c| c.shape.h);
        let dst = past_len + fresh.as_ref().map_or(0, |_| cur);
        let mut out = alloc::zeroed(self.embed_dim * dst)?;
        if let Some(c) = past {
            for (i, &v) in c.f32().iter().enumerate() {
                let (h, pos, l) = (i / (past_len * d), i / d % past_len, i % d);
                out[(h * d + l) * dst + pos] = v;
            }
        }
        if let Some(fresh) = fresh {
            for (r, row) in out.chunks_mut(dst.max(1)).enumerate().take(self.embed_dim) {
                row[past_len..].copy_from_slice(&fresh[r * cur..(r + 1) * cur]);
            }
        }
        Ok((out, dst))
    }

    /// `embed_dim` rows × seqlen back to the cache layout, heads × seqlen × `head_dim`.
    fn to_cache(&self, x: &[f32], seqlen: usize) -> Result<Tensor> {
        let d = self.embed_dim / self.num_heads;
        let mut out = alloc::zeroed(x.len())?;
        for (r, row) in x.chunks(seqlen.max(1)).enumerate() {
            let (h, l) = (r / d, r % d);
            for (pos, &v) in row.iter().enumerate() {
                out[(h * seqlen + pos) * d + l] = v;
            }
        }
        Ok(Tensor::new(Shape::d3(d, seqlen, self.num_heads), out))
    }
}

impl Op for MultiHeadAttention {
    fn forward(&self, bottoms: Vec<Arc<Tensor>>, ctx: &Context) -> Result<Vec<Arc<Tensor>>> {
        let [qi, ki, vi, mi, cki, cvi] = bottom_indices(bottoms.len(), self.attn_mask, self.kv_cache)
            .ok_or_else(|| ctx.shape_error(format!("cannot take {} inputs with these options", bottoms.len())))?;
        let (q, k, v) = (&bottoms[qi], &bottoms[ki], &bottoms[vi]);
        let cached_k = self.kv_cache.then(|| bottoms[cki].as_ref());
        let cached_v = self.kv_cache.then(|| bottoms[cvi].as_ref());
        let has_past = cached_k.is_some_and(|c| !c.shape.is_empty());
        let src = q.shape.h;
        let cur = k.shape.h;
        if v.shape.h != cur {
            return Err(ctx.shape_error(format!("k has {cur} rows but v has {}", v.shape.h)));
        }

        let mut q_affine = self.project(&self.q_weight, &self.q_bias, q, self.qdim, ctx, "q")?;
        for x in &mut q_affine {
            *x *= self.scale;
        }
        // Cross-attention with a cache reuses the cached projections as they are.
        let k_fresh = if has_past && qi != ki {
            None
        } else {
            Some(self.project(&self.k_weight, &self.k_bias, k, self.kdim, ctx, "k")?)
        };
        let v_fresh = if has_past && qi != vi {
            None
        } else {
            Some(self.project(&self.v_weight, &self.v_bias, v, self.vdim, ctx, "v")?)
        };
        let (k_affine, dst) = self.keys_or_values(cached_k, k_fresh, cur, ctx)?;
        let (v_affine, v_dst) = self.keys_or_values(cached_v, v_fresh, cur, ctx)?;
        if v_dst != dst {
            return Err(ctx.shape_error(format!("keys span {dst} positions but values span {v_dst}")));
        }

        let mask = if self.attn_mask { Some(bottoms[mi].as_ref()) } else { None };
        if let Some(m) = mask {
            let rows = if m.shape.dims == 3 { m.shape.h } else { m.shape.h * m.shape.d * m.shape.c };
            if m.shape.w != dst || rows < src || (m.shape.dims == 3 && m.shape.c < self.num_heads) {
                return Err(ctx.shape_error(format!("attn_mask {} does not cover {src}×{dst} per head", m.shape)));
            }
        }

        let d = self.embed_dim / self.num_heads;
        let mut qkv = alloc::zeroed(self.embed_dim * src)?;
        for h in 0..self.num_heads {
            let qh = &q_affine[h * d * src..(h + 1) * d * src];
            let kh = &k_affine[h * d * dst..(h + 1) * d * dst];
            let vh = &v_affine[h * d * dst..(h + 1) * d * dst];
            // scores (src × dst) = qhᵀ · kh
            let mut scores = alloc::zeroed(src * dst)?;
            gemm_f32::gemm(&PackedA::new(&transpose(qh, d, src)?, src, d), kh, dst, &mut scores, Epilogue::NONE);
            if let Some(m) = mask {
                let plane = if m.shape.dims == 3 { m.channel(h) } else { m.f32() };
                scores.iter_mut().zip(&plane[..src * dst]).for_each(|(s, &b)| *s += b);
            }
            for row in scores.chunks_mut(dst.max(1)) {
                let max = row.iter().fold(-f32::MAX, |a, &b| a.max(b));
                let mut sum = 0.0f32;
                for x in row.iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x;
                }
                for x in row.iter_mut() {
                    *x /= sum;
                }
            }
            // head output (d × src) = vh · scoresᵀ
            let st = transpose(&scores, src, dst)?;
            gemm_f32::gemm(
                &PackedA::new(vh, d, dst),
                &st,
                src,
                &mut qkv[h * d * src..(h + 1) * d * src],
                Epilogue::NONE,
            );
        }

        // out (src × qdim) = (out_weight · qkv + bias)ᵀ
        let mut out_t = alloc::zeroed(self.qdim * src)?;
        let epilogue = Epilogue { bias: Some(&self.out_bias), activation: Activation::Identity };
        gemm_f32::gemm(&self.out_weight, &qkv, src, &mut out_t, epilogue);
        let out = Tensor::new(Shape::d2(self.qdim, src), transpose(&out_t, self.qdim, src)?);
        let mut tops = vec![Arc::new(out)];
        if self.kv_cache {
            tops.push(Arc::new(self.to_cache(&k_affine, dst)?));
            tops.push(Arc::new(self.to_cache(&v_affine, dst)?));
        }
        Ok(tops)
    }
}

pub fn build(layer: &Layer) -> Result<Box<dyn Op>> {
    let p = Params::new(layer)?;
    if p.int(18) != 0 {
        return Err(super::unsupported(layer, "int8 MultiHeadAttention"));
    }
    let (embed_dim, num_heads, wds) = (p.int(0), p.int(1), p.int(2));
    if embed_dim <= 0 || num_heads <= 0 || embed_dim % num_heads != 0 || wds <= 0 || wds % embed_dim != 0 {
        return Err(p.invalid(format!(
            "embed_dim {embed_dim} must be a positive multiple of num_heads {num_heads}, and weight_data_size {wds} a multiple of embed_dim"
        )));
    }
    let embed = embed_dim as usize;
    let qdim = (wds / embed_dim) as usize;
    let kdim = if p.has(3) { p.int(3) } else { embed_dim };
    let vdim = if p.has(4) { p.int(4) } else { embed_dim };
    if kdim <= 0 || vdim <= 0 {
        return Err(p.invalid(format!("kdim {kdim} and vdim {vdim} must be positive")));
    }
    let (kdim, vdim) = (kdim as usize, vdim as usize);
    let scale = if p.has(6) { p.float(6) } else { 1.0 / ((embed_dim / num_heads) as f32).sqrt() };
    let packed = |name: &str, rows: usize, cols: usize| -> Result<PackedA> {
        let w = p.weight_f32(name)?;
        if w.len() != rows * cols {
            return Err(p.invalid(format!("{name} holds {} values, expected {}", w.len(), rows * cols)));
        }
        Ok(PackedA::new(&w, rows, cols))
    };
    let bias = |name: &str, n: usize| -> Result<Vec<f32>> {
        let b = p.weight_f32(name)?;
        if b.len() != n {
            return Err(p.invalid(format!("{name} holds {} values, expected {n}", b.len())));
        }
        Ok(b)
    };
    Ok(Box::new(MultiHeadAttention {
        embed_dim: embed,
        num_heads: num_heads as usize,
        qdim,
        kdim,
        vdim,
        attn_mask: p.int(5) != 0,
        kv_cache: p.int(7) != 0,
        scale,
        q_weight: packed("q_weight", embed, qdim)?,
        q_bias: bias("q_bias", embed)?,
        k_weight: packed("k_weight", embed, kdim)?,
        k_bias: bias("k_bias", embed)?,
        v_weight: packed("v_weight", embed, vdim)?,
        v_bias: bias("v_bias", embed)?,
        out_weight: packed("out_weight", qdim, embed)?,
        out_bias: bias("out_bias", qdim)?,
    }))
}
