//! One level of the 2-D Haar wavelet transform, with PyWavelets' floating-point order.
//!
//! invisible-watermark thresholds Haar approximation coefficients that are often exact
//! multiples of half its quantisation step, so the last bit of each sum decides a watermark bit.
//! These follow `pywt.dwt2(x, 'haar')` and `pywt.idwt2` exactly: the filters are PyWavelets'
//! (±0.7071067811865476), each 1-D pass runs along axis 0 first and then axis 1 (inverse: axis
//! 1 first), and each output is `f[0]·x[2k+1] + f[1]·x[2k]` (forward) or `lo·a + hi·d`
//! (inverse) in that order, without fused multiply-adds. Checked bit for bit against
//! PyWavelets 1.9 on random inputs.

/// PyWavelets' Haar filter tap, `pywt.Wavelet('haar').dec_lo[0]`.
const TAP: f64 = std::f64::consts::FRAC_1_SQRT_2;

/// A row-major matrix of `rows × cols` f64 values.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Plane {
    pub fn zeros(rows: usize, cols: usize) -> Plane {
        Plane {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    pub fn at(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }

    pub fn at_mut(&mut self, r: usize, c: usize) -> &mut f64 {
        &mut self.data[r * self.cols + c]
    }

    fn transposed(&self) -> Plane {
        let mut t = Plane::zeros(self.cols, self.rows);
        for r in 0..self.rows {
            for c in 0..self.cols {
                *t.at_mut(c, r) = self.at(r, c);
            }
        }
        t
    }
}

/// The four sub-bands of one level, named as PyWavelets names them: the first letter is the
/// filter along axis 0 (rows), the second along axis 1. `dwt2` returns
/// `(aa, (da, ad, dd))` as `(cA, (cH, cV, cD))`.
#[derive(Debug, Clone, PartialEq)]
pub struct HaarBands {
    pub aa: Plane,
    pub da: Plane,
    pub ad: Plane,
    pub dd: Plane,
}

/// Low- and high-pass halves along axis 0 (the rows must be even).
fn split_axis0(x: &Plane) -> (Plane, Plane) {
    let (lo, hi) = ([TAP, TAP], [-TAP, TAP]);
    let mut a = Plane::zeros(x.rows / 2, x.cols);
    let mut d = Plane::zeros(x.rows / 2, x.cols);
    for k in 0..x.rows / 2 {
        for c in 0..x.cols {
            let (even, odd) = (x.at(2 * k, c), x.at(2 * k + 1, c));
            *a.at_mut(k, c) = lo[0] * odd + lo[1] * even;
            *d.at_mut(k, c) = hi[0] * odd + hi[1] * even;
        }
    }
    (a, d)
}

fn merge_axis0(a: &Plane, d: &Plane) -> Plane {
    let (lo, hi) = ([TAP, TAP], [TAP, -TAP]);
    let mut x = Plane::zeros(a.rows * 2, a.cols);
    for k in 0..a.rows {
        for c in 0..a.cols {
            let (ak, dk) = (a.at(k, c), d.at(k, c));
            *x.at_mut(2 * k, c) = lo[0] * ak + hi[0] * dk;
            *x.at_mut(2 * k + 1, c) = lo[1] * ak + hi[1] * dk;
        }
    }
    x
}

fn split_axis1(x: &Plane) -> (Plane, Plane) {
    let (a, d) = split_axis0(&x.transposed());
    (a.transposed(), d.transposed())
}

fn merge_axis1(a: &Plane, d: &Plane) -> Plane {
    merge_axis0(&a.transposed(), &d.transposed()).transposed()
}

/// `pywt.dwt2(x, 'haar')` for even-sized `x`.
pub fn dwt2(x: &Plane) -> HaarBands {
    debug_assert!(x.rows.is_multiple_of(2) && x.cols.is_multiple_of(2));
    let (a, d) = split_axis0(x);
    let (aa, ad) = split_axis1(&a);
    let (da, dd) = split_axis1(&d);
    HaarBands { aa, da, ad, dd }
}

/// `pywt.idwt2((aa, (da, ad, dd)), 'haar')`.
pub fn idwt2(bands: &HaarBands) -> Plane {
    let a = merge_axis1(&bands.aa, &bands.ad);
    let d = merge_axis1(&bands.da, &bands.dd);
    merge_axis0(&a, &d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_pywavelets_on_a_small_block() {
        // pywt.dwt2(np.array([[1, 2], [3, 5]]), 'haar') in PyWavelets 1.9.
        let x = Plane {
            rows: 2,
            cols: 2,
            data: vec![1.0, 2.0, 3.0, 5.0],
        };
        let b = dwt2(&x);
        assert_eq!(b.aa.data, vec![5.500000000000001]);
        assert_eq!(b.da.data, vec![-2.5000000000000004]);
        assert_eq!(b.ad.data, vec![-1.5]);
        assert_eq!(b.dd.data, vec![0.5]);
        let back = idwt2(&b);
        assert_eq!(
            back.data,
            vec![1.0, 2.0, 3.000000000000001, 5.000000000000002]
        );
    }
}
