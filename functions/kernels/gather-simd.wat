;; The dense gather of the layer kernel in WebAssembly SIMD: 8 activation rows ("lanes") at once.
;;   y[j * 8 + r] = sum over e in outputStart[j] .. outputStart[j+1] of x[inputIndex[e] * 8 + r] * weight[e]
;; x holds float32 lanes, products and sums are float64, e ascending: exactly the operations of
;; gatherBlock() in layer-kernel.ts (no fused multiply-add), so results are bit-identical.
;; Rebuild the .wasm with `npm run build:wasm` after editing.
(module
  (import "env" "memory" (memory 1))
  (func (export "gather8")
    (param $n i32) (param $outputStart i32) (param $inputIndex i32) (param $weight i32) (param $x i32) (param $y i32)
    (local $j i32) (local $e i32) (local $end i32) (local $row i32) (local $out i32)
    (local $w v128) (local $v0 v128) (local $v1 v128)
    (local $s01 v128) (local $s23 v128) (local $s45 v128) (local $s67 v128)
    (local.set $end (i32.load (local.get $outputStart)))
    (block $done
      (loop $outputs
        (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $e (local.get $end))
        (local.set $end (i32.load (i32.add (local.get $outputStart) (i32.shl (i32.add (local.get $j) (i32.const 1)) (i32.const 2)))))
        (local.set $s01 (v128.const f64x2 0 0))
        (local.set $s23 (v128.const f64x2 0 0))
        (local.set $s45 (v128.const f64x2 0 0))
        (local.set $s67 (v128.const f64x2 0 0))
        (block $edgesDone
          (loop $edges
            (br_if $edgesDone (i32.ge_u (local.get $e) (local.get $end)))
            ;; 8 float32 lanes of input k start at x + k * 32 bytes
            (local.set $row (i32.add (local.get $x)
              (i32.shl (i32.load (i32.add (local.get $inputIndex) (i32.shl (local.get $e) (i32.const 2)))) (i32.const 5))))
            (local.set $w (f64x2.splat (f64.promote_f32 (f32.load (i32.add (local.get $weight) (i32.shl (local.get $e) (i32.const 2)))))))
            (local.set $v0 (v128.load (local.get $row)))
            (local.set $v1 (v128.load offset=16 (local.get $row)))
            (local.set $s01 (f64x2.add (local.get $s01) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v0)) (local.get $w))))
            (local.set $s23 (f64x2.add (local.get $s23) (f64x2.mul (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v0) (local.get $v0))) (local.get $w))))
            (local.set $s45 (f64x2.add (local.get $s45) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v1)) (local.get $w))))
            (local.set $s67 (f64x2.add (local.get $s67) (f64x2.mul (f64x2.promote_low_f32x4
              (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v1) (local.get $v1))) (local.get $w))))
            (local.set $e (i32.add (local.get $e) (i32.const 1)))
            (br $edges)))
        ;; 8 float64 sums of output j at y + j * 64 bytes
        (local.set $out (i32.add (local.get $y) (i32.shl (local.get $j) (i32.const 6))))
        (v128.store (local.get $out) (local.get $s01))
        (v128.store offset=16 (local.get $out) (local.get $s23))
        (v128.store offset=32 (local.get $out) (local.get $s45))
        (v128.store offset=48 (local.get $out) (local.get $s67))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $outputs)))))
