//! The ONNX `GRU` node run by edge-screen's own recurrent kernel inside tract.
//!
//! tract 0.23 runs a GRU as one `GruSeq` op per direction; on the breathing model (30 steps, 48
//! units, both directions) those two ops were four fifths of a run, and the whole model took
//! about 2.2 times as long as in onnxruntime. [`register`] puts [`parse_gru`] in tract-onnx's
//! operator register in place of tract's own parser. A node of the form the kernel computes
//! exactly (`linear_before_reset = 1` as PyTorch exports, the standard activations, no `clip`,
//! time-major layout, no `sequence_lens`, constant weights and initial state, f32, an input
//! shape known before a run) is wired as tract's matrix product for the input side
//! of every step and direction, `X·Wᵀ + Wb` (tract's platform kernel, `W` packed once), feeding
//! one [`FusedGru`] op that runs the recurrence; any other GRU node is wired by tract's own
//! expansion, unchanged. Parsing, optimisation, the plan and every other operator stay tract's.
//!
//! **The recurrence.** Per direction and batch row, per step: the recurrent product
//! `R·h + Rb` as 3H-wide multiply-adds of the rows of `Rᵀ` (four rows per pass over the
//! accumulator, element-wise, so the compiler vectorises them without reordering a dot
//! product), the gates with rational approximations of tanh and the logistic function (the
//! form Eigen and onnxruntime's MLAS use, within 5e-7 of the library functions), and the new
//! state `h = (1 − z)·n + z·h`. On x86-64 with AVX2 and FMA (checked at run time) the loops are
//! compiled for them; elsewhere for the target's baseline (SSE2; NEON on aarch64). The
//! directions run one after the other: both recurrent matrices together (55 kB at 48 units)
//! overflow a 32-48 kB L1 cache, and alternating them step by step ran 1.7 times slower.
//!
//! The ONNX semantics followed (GRU, opset 7 and later): gates in the order z, r, h; `W` `[D, 3H, I]`,
//! `R` `[D, 3H, H]`, `B` `[D, 6H]` (`Wb` then `Rb`), `initial_h` `[D, B, H]`; outputs `Y`
//! `[T, D, B, H]` and `Y_h` `[D, B, H]`; with `linear_before_reset` the candidate is
//! `n = tanh(Wh·x + Wbh + r ⊙ (Rh·h + Rbh))`. The `direction` attribute is honoured (`reverse`
//! runs a one-direction node backwards, which tract's own expansion does not).

use std::sync::Arc;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::math;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::expandable::{expand, Expansion};
use tract_onnx::Onnx;

/// Replaces tract-onnx's parser for `GRU` nodes in `onnx` with [`parse_gru`].
pub fn register(onnx: &mut Onnx) {
    onnx.op_register.insert("GRU", parse_gru);
}

/// Parses a `GRU` node: tract's own expansion ([`tract_onnx::ops::rec::gru`]), wrapped so that
/// wiring turns an eligible node into a [`FusedGru`].
pub fn parse_gru(
    _ctx: &ParsingContext,
    pb: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let common = tract_onnx::ops::rec::common::CommonRec::from_node_and_options(
        pb,
        3,
        0,
        Box::new(tract_onnx::ops::rec::gru::GRU {
            f: Box::new(tract_onnx::tract_hir::ops::nn::sigmoid()),
            g: Box::new(tract_onnx::tract_hir::ops::math::tanh()),
            linear_before_reset: pb.get_attr_opt("linear_before_reset")?.unwrap_or(false),
        }),
    )?;
    // Only the standard activations and no clipping are computed by the kernel.
    let activations: Option<Vec<String>> = pb.get_attr_opt_vec("activations")?;
    let plain_activations = activations.map_or(true, |a| {
        a.chunks(2)
            .all(|p| p.len() == 2 && p[0] == "Sigmoid" && p[1] == "Tanh")
    });
    let clip: Option<f32> = pb.get_attr_opt("clip")?;
    let direction: Option<String> = pb.get_attr_opt("direction")?;
    let gru = OnnxGru {
        eligible: plain_activations && clip.is_none(),
        linear_before_reset: pb.get_attr_opt("linear_before_reset")?.unwrap_or(false),
        reverse: direction.as_deref() == Some("reverse"),
        common,
    };
    Ok((expand(gru), vec![]))
}

/// A parsed `GRU` node: tract's expansion, and what decides whether the kernel can take it.
#[derive(Debug, Clone)]
struct OnnxGru {
    common: tract_onnx::ops::rec::common::CommonRec,
    /// Standard activations, no `clip`.
    eligible: bool,
    linear_before_reset: bool,
    /// `direction = "reverse"`.
    reverse: bool,
}

impl Expansion for OnnxGru {
    fn name(&self) -> StaticName {
        "GRU".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        self.common.nboutputs()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        self.common.rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let Some((op, w, wb)) = self.fused(model, inputs)? else {
            return self.common.wire(prefix, model, inputs);
        };
        // The input-side product of every step and direction, `X·Wᵀ + Wb`, as one matrix
        // product of tract's (its platform kernel, `W` packed once).
        let w = model.add_const(format!("{prefix}.w"), w)?;
        let mut xw = model.wire_node(
            format!("{prefix}.xw"),
            EinSum::new("tbk,gk->tbg".parse()?, f32::datum_type()),
            &[inputs[0], w],
        )?[0];
        if let Some(wb) = wb {
            let wb = model.add_const(format!("{prefix}.wb"), wb)?;
            xw = model.wire_node(format!("{prefix}.xw_b"), math::add(), &[xw, wb])?[0];
        }
        let wired = model.wire_node(prefix, op, &[xw])?;
        let mut outputs: TVec<OutletId> = tvec!(0.into(); self.nboutputs()?);
        if let Some(ix) = self.common.optional_y_output {
            outputs[ix] = wired[0];
        }
        if let Some(ix) = self.common.optional_y_h_output {
            outputs[ix] = wired[1];
        }
        Ok(outputs)
    }
}

impl OnnxGru {
    /// The kernel's op for this node with the input-side weights `W` `[D·3H, I]` and biases
    /// `Wb` `[1, 1, D·3H]` (where the node has `B`), or `None` where the node is not of the form
    /// it computes: non-standard activations, `clip`, `linear_before_reset = 0`, batch-first
    /// layout, `sequence_lens`, weights or initial state that are not constants, an input shape
    /// not known before a run, or anything but f32.
    #[allow(clippy::type_complexity)]
    fn fused(
        &self,
        model: &TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<Option<(FusedGru, Tensor, Option<Tensor>)>> {
        let c = &self.common;
        if !self.eligible
            || !self.linear_before_reset
            || c.batch_first
            || c.optional_sequence_lens_input.is_some()
        {
            return Ok(None);
        }
        let x = model.outlet_fact(inputs[0])?;
        let Some(x_shape) = x.shape.as_concrete() else {
            return Ok(None);
        };
        if x.datum_type != f32::datum_type() || x_shape.len() != 3 {
            return Ok(None);
        }
        let konst = |slot: Option<usize>| -> TractResult<Option<Arc<Tensor>>> {
            Ok(match slot {
                Some(ix) => model.outlet_fact(inputs[ix])?.konst.clone(),
                None => None,
            })
        };
        let (Some(w), Some(r)) = (konst(Some(1))?, konst(Some(2))?) else {
            return Ok(None);
        };
        let b = konst(c.optional_bias_input)?;
        let h0 = konst(c.optional_initial_h_input)?;
        if (c.optional_bias_input.is_some() && b.is_none())
            || (c.optional_initial_h_input.is_some() && h0.is_none())
        {
            return Ok(None);
        }
        let (t_len, batch, input) = (x_shape[0], x_shape[1], x_shape[2]);
        if w.rank() != 3 || r.rank() != 3 || w.datum_type() != f32::datum_type() {
            return Ok(None);
        }
        let (dirs, hidden) = (w.shape()[0], r.shape()[2]);
        if !(1..=2).contains(&dirs)
            || w.shape() != [dirs, 3 * hidden, input]
            || r.shape() != [dirs, 3 * hidden, hidden]
            || r.datum_type() != f32::datum_type()
        {
            return Ok(None);
        }
        let w = values(&w)?;
        let r = values(&r)?;
        let b = match &b {
            Some(b) if b.datum_type() == f32::datum_type() && b.len() == dirs * 6 * hidden => {
                Some(values(b)?)
            }
            Some(_) => return Ok(None),
            None => None,
        };
        let h0 = match &h0 {
            Some(h) if h.datum_type() == f32::datum_type() && h.len() == dirs * batch * hidden => {
                Some(values(h)?)
            }
            Some(_) => return Ok(None),
            None => None,
        };
        let g = 3 * hidden;
        let op = FusedGru::from_onnx(
            [t_len, batch, hidden],
            dirs,
            self.reverse,
            &r,
            b.as_deref(),
            h0.as_deref(),
        );
        let w = Tensor::from_shape(&[dirs * g, input], &w)?;
        let wb = match &b {
            Some(b) => {
                let wb: Vec<f32> = (0..dirs)
                    .flat_map(|d| b[d * 2 * g..d * 2 * g + g].iter().copied())
                    .collect();
                Some(Tensor::from_shape(&[1, 1, dirs * g], &wb)?)
            }
            None => None,
        };
        Ok(Some((op, w, wb)))
    }
}

/// The f32 values of `t`, row-major.
fn values(t: &Tensor) -> TractResult<Vec<f32>> {
    Ok(t.to_plain_array_view::<f32>()?.iter().copied().collect())
}

/// `m` (`rows × cols`, row-major) transposed: `cols × rows`.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; m.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = m[i * cols + j];
        }
    }
    t
}

/// One direction's weights, laid out for the kernel.
#[derive(Debug, Clone)]
struct Direction {
    backward: bool,
    /// `Rᵀ`, `H × 3H`.
    rt: Vec<f32>,
    /// `Rb`, `3H`.
    rb: Vec<f32>,
    /// Initial state, `B × H`.
    h0: Vec<f32>,
}

/// Which instruction set the loops run with, chosen once when the op is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Simd {
    /// The target's baseline.
    Baseline,
    /// x86-64 with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Simd {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Self::Avx2Fma;
        }
        Self::Baseline
    }
}

/// A whole GRU node (one or both directions) as one op: input `X` `[T, B, I]`, outputs `Y`
/// `[T, D, B, H]` and `Y_h` `[D, B, H]`. The weights are constants of the node, held here
/// pre-transposed; the op is stateless (every run starts from `initial_h`, the ONNX contract).
#[derive(Debug, Clone)]
pub struct FusedGru {
    t_len: usize,
    batch: usize,
    hidden: usize,
    weights: Arc<Vec<Direction>>,
    simd: Simd,
}

impl PartialEq for FusedGru {
    fn eq(&self, other: &Self) -> bool {
        (self.t_len, self.batch, self.hidden, self.simd)
            == (other.t_len, other.batch, other.hidden, other.simd)
            && self.weights.len() == other.weights.len()
            && self.weights.iter().zip(other.weights.iter()).all(|(a, b)| {
                a.backward == b.backward
                    && [(&a.rt, &b.rt), (&a.rb, &b.rb), (&a.h0, &b.h0)]
                        .iter()
                        .all(|(x, y)| {
                            x.len() == y.len()
                                && x.iter()
                                    .zip(y.iter())
                                    .all(|(p, q)| p.to_bits() == q.to_bits())
                        })
            })
    }
}

// Equality is bitwise on the weights, so it is reflexive.
impl Eq for FusedGru {}

impl Op for FusedGru {
    fn name(&self) -> StaticName {
        "FusedGru".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "edge-screen kernel: T={} batch={} hidden={} directions={} simd={:?}",
            self.t_len,
            self.batch,
            self.hidden,
            self.weights.len(),
            self.simd
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for FusedGru {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let view = inputs[0].to_plain_array_view::<f32>()?;
        let copied: Vec<f32>;
        let x = match view.as_slice() {
            Some(x) => x,
            None => {
                copied = view.iter().copied().collect();
                &copied
            }
        };
        let want = self.t_len * self.batch * self.weights.len() * 3 * self.hidden;
        ensure!(
            x.len() == want,
            "FusedGru: input holds {} values, expected {want}",
            x.len()
        );
        let (y, y_h) = self.run(x);
        let (t, d, b, h) = (self.t_len, self.weights.len(), self.batch, self.hidden);
        Ok(tvec!(
            Tensor::from_shape(&[t, d, b, h], &y)?.into_tvalue(),
            Tensor::from_shape(&[d, b, h], &y_h)?.into_tvalue()
        ))
    }
}

impl TypedOp for FusedGru {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let d = self.weights.len();
        let g = d * 3 * self.hidden;
        ensure!(
            inputs[0].shape.as_concrete() == Some(&[self.t_len, self.batch, g][..]),
            "FusedGru built for input [{}, {}, {g}], given {:?}",
            self.t_len,
            self.batch,
            inputs[0].shape
        );
        Ok(tvec!(
            f32::fact([self.t_len, d, self.batch, self.hidden]),
            f32::fact([d, self.batch, self.hidden])
        ))
    }

    as_op!();
}

impl FusedGru {
    /// The op for `[T, B, H]` (steps, batch, hidden size) and `dirs` directions (the second one
    /// backwards, the only one too where `reverse`), from the node's recurrent weights in ONNX
    /// layout: `r` `[D, 3H, H]`, `b` `[D, 6H]` (only its `Rb` halves are used here), `h0`
    /// `[D, B, H]`. The caller has checked the lengths.
    fn from_onnx(
        [t_len, batch, hidden]: [usize; 3],
        dirs: usize,
        reverse: bool,
        r: &[f32],
        b: Option<&[f32]>,
        h0: Option<&[f32]>,
    ) -> Self {
        let g = 3 * hidden;
        let directions = (0..dirs)
            .map(|d| Direction {
                backward: d == 1 || reverse,
                rt: transpose(&r[d * g * hidden..(d + 1) * g * hidden], g, hidden),
                rb: b.map_or(vec![0.0; g], |b| b[d * 2 * g + g..(d + 1) * 2 * g].to_vec()),
                h0: h0.map_or(vec![0.0; batch * hidden], |h| {
                    h[d * batch * hidden..(d + 1) * batch * hidden].to_vec()
                }),
            })
            .collect();
        Self {
            t_len,
            batch,
            hidden,
            weights: Arc::new(directions),
            simd: Simd::detect(),
        }
    }

    /// `Y` (`[T, D, B, H]`, row-major) and `Y_h` (`[D, B, H]`) for `xw`, the input-side gates
    /// `X·Wᵀ + Wb` (`[T, B, D·3H]`).
    fn run(&self, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        match self.simd {
            Simd::Baseline => self.run_with::<false>(x),
            // SAFETY: `Simd::Avx2Fma` is chosen only where the processor has both.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2Fma => unsafe { self.run_avx2_fma(x) },
        }
    }

    /// [`Self::run_with`] compiled for AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2_fma(&self, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        self.run_with::<true>(x)
    }

    /// The recurrence for every direction and batch row; `FMA` selects fused multiply-adds
    /// (only where the target has them: elsewhere `mul_add` is a slow library call).
    #[inline(always)]
    fn run_with<const FMA: bool>(&self, xw: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (t_len, batch, h) = (self.t_len, self.batch, self.hidden);
        let dirs = self.weights.len();
        let g = 3 * h;
        let mut y = vec![0.0f32; t_len * dirs * batch * h];
        let mut y_h = vec![0.0f32; dirs * batch * h];
        // Per direction: the gates of the step, the recurrent product, the state.
        let mut gates = vec![0.0f32; dirs * g];
        let mut rh = vec![0.0f32; dirs * g];
        let mut state = vec![0.0f32; dirs * h];
        for b in 0..batch {
            for (d, w) in self.weights.iter().enumerate() {
                state[d * h..(d + 1) * h].copy_from_slice(&w.h0[b * h..(b + 1) * h]);
            }
            // One direction after the other: the two recurrent matrices together (55 kB at 48
            // units) overflow a 32-48 kB L1 cache, and alternating them ran 1.7 times slower.
            for (d, w) in self.weights.iter().enumerate() {
                for step in 0..t_len {
                    let t = if w.backward { t_len - 1 - step } else { step };
                    let rh_d = &mut rh[d * g..(d + 1) * g];
                    let h_d = &mut state[d * h..(d + 1) * h];
                    rh_d.copy_from_slice(&w.rb);
                    multiply_add::<FMA>(rh_d, h_d, &w.rt);
                    let at = ((t * batch + b) * dirs + d) * g;
                    let gates_d = &mut gates[d * g..(d + 1) * g];
                    gates_d.copy_from_slice(&xw[at..at + g]);
                    cell::<FMA>(gates_d, rh_d, h_d, h);
                    let at = ((t * dirs + d) * batch + b) * h;
                    y[at..at + h].copy_from_slice(h_d);
                }
            }
            for d in 0..dirs {
                let at = (d * batch + b) * h;
                y_h[at..at + h].copy_from_slice(&state[d * h..(d + 1) * h]);
            }
        }
        (y, y_h)
    }
}

/// `acc += Σ_k v[k] · m[k]`, where `m` holds `v.len()` rows of `acc.len()` values: four rows per
/// pass over `acc`, each an element-wise multiply-add the compiler vectorises.
#[inline(always)]
fn multiply_add<const FMA: bool>(acc: &mut [f32], v: &[f32], m: &[f32]) {
    let n = acc.len();
    let fma = |a: f32, b: f32, c: f32| if FMA { a.mul_add(b, c) } else { a * b + c };
    let mut rows = m.chunks_exact(n);
    let mut vs = v.chunks_exact(4);
    for v4 in vs.by_ref() {
        let (r0, r1, r2, r3) = match (rows.next(), rows.next(), rows.next(), rows.next()) {
            (Some(a), Some(b), Some(c), Some(d)) => (a, b, c, d),
            _ => return,
        };
        // Slices of exactly `n`, so the indexing below needs no bounds checks and vectorises.
        let (r0, r1, r2, r3) = (&r0[..n], &r1[..n], &r2[..n], &r3[..n]);
        let acc = &mut acc[..n];
        let (v0, v1, v2, v3) = (v4[0], v4[1], v4[2], v4[3]);
        for j in 0..n {
            acc[j] = fma(
                r3[j],
                v3,
                fma(r2[j], v2, fma(r1[j], v1, fma(r0[j], v0, acc[j]))),
            );
        }
    }
    for (vk, row) in vs.remainder().iter().zip(rows) {
        for (o, r) in acc.iter_mut().zip(row) {
            *o = fma(*r, *vk, *o);
        }
    }
}

/// One GRU step with `linear_before_reset`: `gates` holds `X·Wᵀ + Wb` (z, r, h), `rh` holds
/// `R·h + Rb`; `h` (the state, `hidden` values) is replaced by the new state.
#[inline(always)]
fn cell<const FMA: bool>(gates: &mut [f32], rh: &[f32], h: &mut [f32], hidden: usize) {
    let (zr, n) = gates.split_at_mut(2 * hidden);
    for (g, r) in zr.iter_mut().zip(&rh[..2 * hidden]) {
        *g = sigmoid(*g + *r);
    }
    let (z, r) = zr.split_at(hidden);
    for ((n, r), rhn) in n.iter_mut().zip(r).zip(&rh[2 * hidden..]) {
        *n = tanh(if FMA {
            r.mul_add(*rhn, *n)
        } else {
            *n + r * rhn
        });
    }
    for ((h, z), n) in h.iter_mut().zip(z).zip(n.iter()) {
        *h = if FMA {
            z.mul_add(*h - n, *n)
        } else {
            n + z * (*h - n)
        };
    }
}

/// tanh as a rational function of degree 13/6 on [-9, 9] (clamped outside, where tanh is ±1 to
/// f32 precision): the approximation Eigen and onnxruntime's MLAS use; branch-free, so loops
/// over it vectorise.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    const A1: f32 = 4.893_524_6e-3;
    const A3: f32 = 6.372_619_3e-4;
    const A5: f32 = 1.485_722_4e-5;
    const A7: f32 = 5.122_297e-8;
    const A9: f32 = -8.604_672e-11;
    const A11: f32 = 2.000_188e-13;
    const A13: f32 = -2.760_768_5e-16;
    const B0: f32 = 4.893_525e-3;
    const B2: f32 = 2.268_434_6e-3;
    const B4: f32 = 1.185_347e-4;
    const B6: f32 = 1.198_258_4e-6;
    let x = x.clamp(-9.0, 9.0);
    let x2 = x * x;
    let p = ((((((A13 * x2 + A11) * x2 + A9) * x2 + A7) * x2 + A5) * x2 + A3) * x2 + A1) * x;
    let q = ((B6 * x2 + B4) * x2 + B2) * x2 + B0;
    p / q
}

/// The logistic function, `1 / (1 + e^-x) = (1 + tanh(x / 2)) / 2`, through [`tanh`].
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    0.5 + 0.5 * tanh(0.5 * x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ONNX GRU step by step in f64 with the library's exp and tanh: `Y` `[T, D, B, H]` and
    /// `Y_h` `[D, B, H]`. Without `linear_before_reset` the reset gate scales the state before
    /// the recurrent product, `n = tanh(Wh·x + Wbh + Rh·(r ⊙ h) + Rbh)`.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        [t_len, batch, input, hidden]: [usize; 4],
        dirs: usize,
        reverse: bool,
        linear_before_reset: bool,
        x: &[f32],
        w: &[f32],
        r: &[f32],
        b: Option<&[f32]>,
        h0: Option<&[f32]>,
    ) -> (Vec<f32>, Vec<f32>) {
        let g = 3 * hidden;
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let mut y = vec![0.0f32; t_len * dirs * batch * hidden];
        let mut y_h = vec![0.0f32; dirs * batch * hidden];
        for d in 0..dirs {
            for bi in 0..batch {
                let mut h: Vec<f64> = (0..hidden)
                    .map(|j| h0.map_or(0.0, |h0| h0[(d * batch + bi) * hidden + j] as f64))
                    .collect();
                for step in 0..t_len {
                    let t = if d == 1 || reverse {
                        t_len - 1 - step
                    } else {
                        step
                    };
                    let xt = &x[(t * batch + bi) * input..(t * batch + bi + 1) * input];
                    let gate = |row: usize| -> (f64, f64) {
                        let wx: f64 = (0..input)
                            .map(|k| w[(d * g + row) * input + k] as f64 * xt[k] as f64)
                            .sum::<f64>()
                            + b.map_or(0.0, |b| b[d * 2 * g + row] as f64);
                        let rh: f64 = (0..hidden)
                            .map(|k| r[(d * g + row) * hidden + k] as f64 * h[k])
                            .sum::<f64>()
                            + b.map_or(0.0, |b| b[d * 2 * g + g + row] as f64);
                        (wx, rh)
                    };
                    let reset: Vec<f64> = (0..hidden)
                        .map(|j| {
                            let (rx, rh) = gate(hidden + j);
                            sig(rx + rh)
                        })
                        .collect();
                    let next: Vec<f64> = (0..hidden)
                        .map(|j| {
                            let (zx, zh) = gate(j);
                            let z = sig(zx + zh);
                            let (nx, nh) = gate(2 * hidden + j);
                            let n = if linear_before_reset {
                                (nx + reset[j] * nh).tanh()
                            } else {
                                let row = d * g + 2 * hidden + j;
                                let rh: f64 = (0..hidden)
                                    .map(|k| r[row * hidden + k] as f64 * reset[k] * h[k])
                                    .sum::<f64>()
                                    + b.map_or(0.0, |b| b[d * 2 * g + g + 2 * hidden + j] as f64);
                                (nx + rh).tanh()
                            };
                            (1.0 - z) * n + z * h[j]
                        })
                        .collect();
                    h = next;
                    for j in 0..hidden {
                        y[((t * dirs + d) * batch + bi) * hidden + j] = h[j] as f32;
                    }
                }
                for j in 0..hidden {
                    y_h[(d * batch + bi) * hidden + j] = h[j] as f32;
                }
            }
        }
        (y, y_h)
    }

    /// Deterministic values in about [-scale, scale].
    fn fill(n: usize, seed: u32, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.618 + seed as f32 * 0.37).sin() * 43758.55).fract() * scale)
            .collect()
    }

    #[test]
    fn the_kernel_follows_the_onnx_recurrence_in_every_form() {
        // (dirs, reverse, batch, input, hidden, bias, initial state): hidden sizes that leave
        // remainders of the four-row passes, one and two directions, batches of one and three.
        let cases = [
            (2, false, 1, 44, 48, true, false),
            (2, false, 3, 7, 5, true, true),
            (1, false, 2, 6, 9, false, true),
            (1, true, 1, 3, 4, true, false),
            (1, true, 2, 5, 1, false, false),
        ];
        let t_len = 11;
        for (ci, &(dirs, reverse, batch, input, hidden, bias, state)) in cases.iter().enumerate() {
            let g = 3 * hidden;
            let seed = ci as u32 * 10;
            let x = fill(t_len * batch * input, seed, 2.0);
            let w = fill(dirs * g * input, seed + 1, 0.6);
            let r = fill(dirs * g * hidden, seed + 2, 0.6);
            let b = bias.then(|| fill(dirs * 2 * g, seed + 3, 0.5));
            let h0 = state.then(|| fill(dirs * batch * hidden, seed + 4, 0.9));
            let shape = [t_len, batch, input, hidden];
            let (want_y, want_h) = reference(
                shape,
                dirs,
                reverse,
                true,
                &x,
                &w,
                &r,
                b.as_deref(),
                h0.as_deref(),
            );
            let op = FusedGru::from_onnx(
                [t_len, batch, hidden],
                dirs,
                reverse,
                &r,
                b.as_deref(),
                h0.as_deref(),
            );
            // What the graph hands the op: X·Wᵀ + Wb, [T, B, D·3H].
            let xw: Vec<f32> = (0..t_len * batch)
                .flat_map(|tb| (0..dirs * g).map(move |dg| (tb, dg)))
                .map(|(tb, dg)| {
                    let (d, row) = (dg / g, dg % g);
                    (0..input)
                        .map(|k| w[(d * g + row) * input + k] * x[tb * input + k])
                        .sum::<f32>()
                        + b.as_ref().map_or(0.0, |b| b[d * 2 * g + row])
                })
                .collect();
            for simd in [Simd::Baseline, Simd::detect()] {
                let op = FusedGru { simd, ..op.clone() };
                let (y, y_h) = op.run(&xw);
                assert_eq!((y.len(), y_h.len()), (want_y.len(), want_h.len()));
                let worst = y
                    .iter()
                    .zip(&want_y)
                    .chain(y_h.iter().zip(&want_h))
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < 2e-5, "case {ci} {simd:?}: off by {worst}");
            }
        }
    }

    /// The shipped breathing model through tract-onnx with and without the kernel: the GRU node
    /// becomes one `FusedGru` (no `GruSeq` left), and its output `Y` and the scores agree with
    /// tract's own GRU.
    #[test]
    fn the_breathing_model_runs_on_the_kernel_as_on_tracts_gru() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/breathing/bi_at_gru.onnx"
        );
        let plan = |onnx: tract_onnx::Onnx| {
            onnx.model_for_path(path)
                .and_then(|m| m.with_input_fact(0, f32::fact([1, 120, 11]).into()))
                .and_then(|mut m| {
                    m.select_outputs_by_name(["/net/rnn/GRU_output_0", "scores"])?;
                    m.into_optimized()
                })
                .and_then(|m| m.into_runnable())
                .unwrap_or_else(|e| panic!("{path}: {e:#}"))
        };
        let ours = plan(crate::inference::framework());
        let tracts = plan(tract_onnx::onnx());
        let ops = |p: &TypedSimplePlan| -> Vec<String> {
            p.model()
                .nodes()
                .iter()
                .map(|n| n.op().name().to_string())
                .collect()
        };
        assert!(
            ops(&ours).iter().any(|o| o == "FusedGru"),
            "{:?}",
            ops(&ours)
        );
        assert!(
            !ops(&ours).iter().any(|o| o == "GruSeq"),
            "{:?}",
            ops(&ours)
        );
        assert!(
            ops(&tracts).iter().any(|o| o == "GruSeq"),
            "{:?}",
            ops(&tracts)
        );
        for seed in 0..8 {
            let x = fill(120 * 11, seed, 1.5);
            let input = || tvec!(Tensor::from_shape(&[1, 120, 11], &x).unwrap().into_tvalue());
            let a = ours.run(input()).unwrap();
            let b = tracts.run(input()).unwrap();
            for (k, tol) in [(0, 1e-5f32), (1, 1e-6)] {
                let (va, vb) = (
                    a[k].to_plain_array_view::<f32>().unwrap(),
                    b[k].to_plain_array_view::<f32>().unwrap(),
                );
                assert_eq!(va.shape(), vb.shape());
                let worst = va
                    .iter()
                    .zip(vb.iter())
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < tol, "seed {seed} output {k}: off by {worst}");
            }
        }
    }

    /// A model of one `GRU` node: input `X` `[T, B, I]`, constants `W`, `R`, `B` and
    /// `initial_h` (or `W` as a second input where `w_input`), outputs `Y` and `Y_h`.
    #[allow(clippy::too_many_arguments)]
    fn gru_node_model(
        [_, batch, input, hidden]: [usize; 4],
        direction: &str,
        linear_before_reset: i64,
        w: (&[f32], bool),
        r: &[f32],
        b: &[f32],
        h0: &[f32],
    ) -> tract_onnx::pb::ModelProto {
        use tract_onnx::pb::*;
        let dirs = if direction == "bidirectional" { 2 } else { 1 };
        let g = 3 * hidden as i64;
        let tensor = |name: &str, dims: Vec<i64>, v: &[f32]| TensorProto {
            name: name.into(),
            dims,
            data_type: tensor_proto::DataType::Float as i32,
            float_data: v.to_vec(),
            ..Default::default()
        };
        // f32 of a shape the test sets with `with_input_fact` (outputs: inferred).
        let info = |name: &str| ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: tensor_proto::DataType::Float as i32,
                    shape: None,
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let int = |name: &str, i: i64| AttributeProto {
            name: name.into(),
            r#type: attribute_proto::AttributeType::Int as i32,
            i,
            ..Default::default()
        };
        let mut initializer = vec![
            tensor("R", vec![dirs, g, hidden as i64], r),
            tensor("B", vec![dirs, 2 * g], b),
            tensor("H0", vec![dirs, batch as i64, hidden as i64], h0),
        ];
        let mut inputs = vec![info("X")];
        if w.1 {
            inputs.push(info("W"));
        } else {
            initializer.push(tensor("W", vec![dirs, g, input as i64], w.0));
        }
        let node = NodeProto {
            name: "gru".into(),
            op_type: "GRU".into(),
            input: ["X", "W", "R", "B", "", "H0"].map(String::from).to_vec(),
            output: vec!["Y".into(), "Y_h".into()],
            attribute: vec![
                int("hidden_size", hidden as i64),
                int("linear_before_reset", linear_before_reset),
                AttributeProto {
                    name: "direction".into(),
                    r#type: attribute_proto::AttributeType::String as i32,
                    s: direction.as_bytes().to_vec(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        ModelProto {
            ir_version: 7,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 14,
            }],
            graph: Some(GraphProto {
                name: "gru".into(),
                node: vec![node],
                initializer,
                input: inputs,
                output: vec![info("Y"), info("Y_h")],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// GRU nodes as files hold them, through [`crate::inference::framework`]: the forms the
    /// kernel computes become a `FusedGru` and follow the reference (a `reverse` node too, which
    /// tract's own expansion runs forwards); `linear_before_reset = 0` and a `W` that is not a
    /// constant are left to tract's own GRU, and still follow the reference.
    #[test]
    fn gru_nodes_take_the_kernel_only_in_its_form_and_all_follow_the_onnx_recurrence() {
        let (t_len, batch, input, hidden) = (9usize, 2usize, 5usize, 6usize);
        // (direction, linear_before_reset, W as an input, kernel expected)
        let cases = [
            ("forward", 1, false, true),
            ("reverse", 1, false, true),
            ("bidirectional", 1, false, true),
            ("forward", 0, false, false),
            ("bidirectional", 0, false, false),
            ("bidirectional", 1, true, false),
        ];
        for (ci, &(direction, lbr, w_input, kernel)) in cases.iter().enumerate() {
            let dirs = if direction == "bidirectional" { 2 } else { 1 };
            let g = 3 * hidden;
            let seed = 100 + ci as u32 * 10;
            let x = fill(t_len * batch * input, seed, 2.0);
            let w = fill(dirs * g * input, seed + 1, 0.6);
            let r = fill(dirs * g * hidden, seed + 2, 0.6);
            let b = fill(dirs * 2 * g, seed + 3, 0.5);
            let h0 = fill(dirs * batch * hidden, seed + 4, 0.9);
            let shape = [t_len, batch, input, hidden];
            let proto = gru_node_model(shape, direction, lbr, (&w, w_input), &r, &b, &h0);
            let mut model = crate::inference::framework()
                .model_for_proto_model(&proto)
                .and_then(|m| m.with_input_fact(0, f32::fact([t_len, batch, input]).into()))
                .unwrap_or_else(|e| panic!("case {ci}: {e:#}"));
            if w_input {
                model = model
                    .with_input_fact(1, f32::fact([dirs, g, input]).into())
                    .unwrap_or_else(|e| panic!("case {ci}: {e:#}"));
            }
            let plan = model
                .into_optimized()
                .and_then(|m| m.into_runnable())
                .unwrap_or_else(|e| panic!("case {ci}: {e:#}"));
            let fused = plan
                .model()
                .nodes()
                .iter()
                .any(|n| n.op().name() == "FusedGru");
            assert_eq!(fused, kernel, "case {ci}: FusedGru in the plan");
            let mut inputs = tvec!(Tensor::from_shape(&[t_len, batch, input], &x)
                .unwrap()
                .into_tvalue());
            if w_input {
                inputs.push(
                    Tensor::from_shape(&[dirs, g, input], &w)
                        .unwrap()
                        .into_tvalue(),
                );
            }
            let out = plan
                .run(inputs)
                .unwrap_or_else(|e| panic!("case {ci}: {e:#}"));
            let (want_y, want_h) = reference(
                shape,
                dirs,
                direction == "reverse",
                lbr == 1,
                &x,
                &w,
                &r,
                Some(&b),
                Some(&h0),
            );
            for (k, want) in [(0, &want_y), (1, &want_h)] {
                let got = out[k].to_plain_array_view::<f32>().unwrap();
                let shape_want: &[usize] = if k == 0 {
                    &[t_len, dirs, batch, hidden]
                } else {
                    &[dirs, batch, hidden]
                };
                assert_eq!(got.shape(), shape_want, "case {ci} output {k}");
                let worst = got
                    .iter()
                    .zip(want.iter())
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0f32, f32::max);
                // tract's own "reverse" runs forwards: that case only passes on the kernel.
                assert!(worst < 2e-5, "case {ci} output {k}: off by {worst}");
            }
        }
    }

    #[test]
    fn tanh_and_sigmoid_follow_the_library_functions() {
        let mut worst = (0.0f32, 0.0f32);
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4; // -20 .. 20
            worst.0 = worst.0.max((tanh(x) - x.tanh()).abs());
            worst.1 = worst.1.max((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs());
        }
        assert!(worst.0 < 5e-7, "tanh off by {}", worst.0);
        assert!(worst.1 < 5e-7, "sigmoid off by {}", worst.1);
        assert_eq!(tanh(f32::INFINITY), tanh(9.0));
        assert_eq!(sigmoid(-1e30), 0.5 + 0.5 * tanh(-9.0));
    }

    #[test]
    fn multiply_add_sums_every_row_including_a_remainder() {
        // 7 rows (a pass of four and a remainder of three) of 5 values.
        let m: Vec<f32> = (0..35).map(|i| i as f32 * 0.5 - 3.0).collect();
        let v: Vec<f32> = (0..7).map(|k| 1.0 + k as f32).collect();
        for fma in [false, true] {
            let mut acc = vec![1.0f32; 5];
            if fma {
                multiply_add::<true>(&mut acc, &v, &m);
            } else {
                multiply_add::<false>(&mut acc, &v, &m);
            }
            for (j, a) in acc.iter().enumerate() {
                let want: f32 = 1.0 + (0..7).map(|k| v[k] * m[k * 5 + j]).sum::<f32>();
                assert!((a - want).abs() < 1e-4, "fma={fma} j={j}: {a} vs {want}");
            }
        }
    }
}
