;; The layer engine of the sparse kernel in WebAssembly SIMD: one `run` call executes a list of jobs
;; (layout.ts: the job kinds, the layer and thread headers) on one thread; several threads run their
;; own lists on the same shared memory. Rebuild the .wasm.ts with `npm run build:wasm` after editing.
;;
;; Exactness (the rule of layer-kernel.ts): every output sums its terms x_k * w_kj in ascending input
;; order in float64 from +0 and is rounded to float32 once, after the bias, ReLU and the cap. Inputs
;; and weights are float32 values, so every product is exact in float64 (24 + 24 significant bits
;; < 53): a fused multiply-add (f64x2.relaxed_madd, which may or may not fuse) rounds exactly like a
;; multiply followed by an add, and the gather, the scatter and engine.ts's TypeScript engine agree
;; bit for bit.
;;
;; Blocks hold 16 activation rows ("lanes") densely: lane i of neuron k is the float32 at
;; block + k * 64 + i * 4, so one input's 16 lanes are one 64-byte cache line.
(module
  ;; at most 2 GiB (layout.ts: byte offsets stay non-negative int32)
  (import "env" "memory" (memory 1 32768 shared))
  ;; The compaction table at byte 512 (layout.ts keeps the first 1 KiB for it): for each 4-bit mask
  ;; of nonzero lanes, the i8x16.swizzle that moves those 32-bit lanes to the front, in order.
  ;; (Every thread's instantiation writes these same bytes.)
  (data (i32.const 512)
    "\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff"
    "\00\01\02\03\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff"
    "\04\05\06\07\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff"
    "\00\01\02\03\04\05\06\07\ff\ff\ff\ff\ff\ff\ff\ff"
    "\08\09\0a\0b\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff"
    "\00\01\02\03\08\09\0a\0b\ff\ff\ff\ff\ff\ff\ff\ff"
    "\04\05\06\07\08\09\0a\0b\ff\ff\ff\ff\ff\ff\ff\ff"
    "\00\01\02\03\04\05\06\07\08\09\0a\0b\ff\ff\ff\ff"
    "\0c\0d\0e\0f\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff\ff"
    "\00\01\02\03\0c\0d\0e\0f\ff\ff\ff\ff\ff\ff\ff\ff"
    "\04\05\06\07\0c\0d\0e\0f\ff\ff\ff\ff\ff\ff\ff\ff"
    "\00\01\02\03\04\05\06\07\0c\0d\0e\0f\ff\ff\ff\ff"
    "\08\09\0a\0b\0c\0d\0e\0f\ff\ff\ff\ff\ff\ff\ff\ff"
    "\00\01\02\03\08\09\0a\0b\0c\0d\0e\0f\ff\ff\ff\ff"
    "\04\05\06\07\08\09\0a\0b\0c\0d\0e\0f\ff\ff\ff\ff"
    "\00\01\02\03\04\05\06\07\08\09\0a\0b\0c\0d\0e\0f")

  ;; ---- the gather: 16 dense rows in one pass over W ------------------------------------------
  ;; out = min(cap, ReLU(in W + bias on nonzero sums)) for the layer's outputs; counts[i] = the
  ;; nonzeros of lane i (int32 x 16). Outputs that are not listed are zero in `out`.
  (func $gather (param $layer i32) (param $in i32) (param $out i32) (param $counts i32)
    (local $p i32) (local $pEnd i32) (local $j i32) (local $start i32) (local $rows i32) (local $weights i32)
    (local $po i32) (local $poEnd i32) (local $pw i32) (local $row i32) (local $o i32)
    (local $wv v128) (local $po2End i32) (local $bias v128) (local $cap v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $s4 v128) (local $s5 v128) (local $s6 v128) (local $s7 v128)
    (local $q v128) (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (if (i32.eqz (i32.load offset=36 (local.get $layer)))
      (then (memory.fill (local.get $out) (i32.const 0) (i32.shl (i32.load (local.get $layer)) (i32.const 6)))))
    ;; Read the input block once in order first: the prefetcher then brings it into the cache, and
    ;; the gather's scattered reads of it hit there (measured 1.25x on the real case's 22 blocks).
    (local.set $o (local.get $in))
    (local.set $pEnd (i32.add (local.get $in) (i32.shl (i32.load (local.get $layer)) (i32.const 6))))
    (loop $touch
      (local.set $q (v128.or (local.get $q) (v128.load (local.get $o))))
      (local.set $o (i32.add (local.get $o) (i32.const 64)))
      (br_if $touch (i32.lt_u (local.get $o) (local.get $pEnd))))
    ;; (stored, so that the reads are not optimized away; counts are overwritten at the end)
    (v128.store (local.get $counts) (local.get $q))
    (local.set $start (i32.load offset=4 (local.get $layer)))
    (local.set $rows (i32.load offset=8 (local.get $layer)))
    (local.set $weights (i32.load offset=12 (local.get $layer)))
    (local.set $bias (v128.load64_splat offset=40 (local.get $layer)))
    (local.set $cap (v128.load64_splat offset=48 (local.get $layer)))
    (local.set $p (i32.load offset=28 (local.get $layer)))
    (local.set $pEnd (i32.add (local.get $p) (i32.shl (i32.load offset=32 (local.get $layer)) (i32.const 2))))
    (block $done
      (br_if $done (i32.ge_u (local.get $p) (local.get $pEnd)))
      (loop $outputs
        (local.set $j (i32.load (local.get $p)))
        (local.set $po (i32.load (i32.add (local.get $start) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $poEnd (i32.add (local.get $rows) (i32.shl
          (i32.load offset=4 (i32.add (local.get $start) (i32.shl (local.get $j) (i32.const 2)))) (i32.const 2))))
        (local.set $pw (i32.add (local.get $weights) (i32.shl (local.get $po) (i32.const 3))))
        (local.set $po (i32.add (local.get $rows) (i32.shl (local.get $po) (i32.const 2))))
        (local.set $s0 (v128.const f64x2 0 0)) (local.set $s1 (v128.const f64x2 0 0))
        (local.set $s2 (v128.const f64x2 0 0)) (local.set $s3 (v128.const f64x2 0 0))
        (local.set $s4 (v128.const f64x2 0 0)) (local.set $s5 (v128.const f64x2 0 0))
        (local.set $s6 (v128.const f64x2 0 0)) (local.set $s7 (v128.const f64x2 0 0))
        ;; Two edges per iteration (fewer loop overheads: measured 1.1x), then the odd one. Each
        ;; edge: rows[e] is input k's byte offset in a block (k * 64), weights[e] is w as float64.
        (local.set $po2End (i32.sub (local.get $poEnd) (i32.const 4)))
        (block $pairsDone (loop $pairs
          (br_if $pairsDone (i32.ge_u (local.get $po) (local.get $po2End)))
          (local.set $row (i32.add (local.get $in) (i32.load (local.get $po))))
          (local.set $wv (v128.load64_splat (local.get $pw)))
          (local.set $s0 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $row))) (local.get $wv) (local.get $s0)))
          (local.set $s1 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $row))) (local.get $wv) (local.get $s1)))
          (local.set $s2 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $row))) (local.get $wv) (local.get $s2)))
          (local.set $s3 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $row))) (local.get $wv) (local.get $s3)))
          (local.set $s4 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=32 (local.get $row))) (local.get $wv) (local.get $s4)))
          (local.set $s5 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=40 (local.get $row))) (local.get $wv) (local.get $s5)))
          (local.set $s6 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=48 (local.get $row))) (local.get $wv) (local.get $s6)))
          (local.set $s7 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=56 (local.get $row))) (local.get $wv) (local.get $s7)))
          (local.set $row (i32.add (local.get $in) (i32.load offset=4 (local.get $po))))
          (local.set $wv (v128.load64_splat offset=8 (local.get $pw)))
          (local.set $s0 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $row))) (local.get $wv) (local.get $s0)))
          (local.set $s1 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $row))) (local.get $wv) (local.get $s1)))
          (local.set $s2 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $row))) (local.get $wv) (local.get $s2)))
          (local.set $s3 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $row))) (local.get $wv) (local.get $s3)))
          (local.set $s4 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=32 (local.get $row))) (local.get $wv) (local.get $s4)))
          (local.set $s5 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=40 (local.get $row))) (local.get $wv) (local.get $s5)))
          (local.set $s6 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=48 (local.get $row))) (local.get $wv) (local.get $s6)))
          (local.set $s7 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=56 (local.get $row))) (local.get $wv) (local.get $s7)))
          (local.set $po (i32.add (local.get $po) (i32.const 8)))
          (local.set $pw (i32.add (local.get $pw) (i32.const 16)))
          (br $pairs)))
        (if (i32.lt_u (local.get $po) (local.get $poEnd)) (then
          (local.set $row (i32.add (local.get $in) (i32.load (local.get $po))))
          (local.set $wv (v128.load64_splat (local.get $pw)))
          (local.set $s0 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $row))) (local.get $wv) (local.get $s0)))
          (local.set $s1 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $row))) (local.get $wv) (local.get $s1)))
          (local.set $s2 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $row))) (local.get $wv) (local.get $s2)))
          (local.set $s3 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $row))) (local.get $wv) (local.get $s3)))
          (local.set $s4 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=32 (local.get $row))) (local.get $wv) (local.get $s4)))
          (local.set $s5 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=40 (local.get $row))) (local.get $wv) (local.get $s5)))
          (local.set $s6 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=48 (local.get $row))) (local.get $wv) (local.get $s6)))
          (local.set $s7 (f64x2.relaxed_madd (f64x2.promote_low_f32x4 (v128.load64_zero offset=56 (local.get $row))) (local.get $wv) (local.get $s7)))))
        ;; 16 lanes of output j, written out inline (V8 does not inline a call here; measured 1.25x).
        ;; The output rule, branchless: a sum of exactly 0 stays 0 (the bias is added to nonzero
        ;; sums only); else float32(min(cap, max(0, s + bias))), NaN giving 0 as the reference's
        ;; `s > 0` test does; pmax/pmin are the plain comparisons (maxpd/minpd). Float32 pairs are
        ;; merged into four vectors and stored as one cache line.
        (local.set $o (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 6))))
        (local.set $q (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero (v128.and
            (f64x2.pmin (local.get $cap) (f64x2.pmax (v128.const f64x2 0 0) (f64x2.add (local.get $s0) (local.get $bias))))
            (f64x2.ne (local.get $s0) (v128.const f64x2 0 0))))
          (f32x4.demote_f64x2_zero (v128.and
            (f64x2.pmin (local.get $cap) (f64x2.pmax (v128.const f64x2 0 0) (f64x2.add (local.get $s1) (local.get $bias))))
            (f64x2.ne (local.get $s1) (v128.const f64x2 0 0))))))
        (v128.store (local.get $o) (local.get $q))
        (local.set $c0 (i32x4.sub (local.get $c0) (f32x4.ne (local.get $q) (v128.const f32x4 0 0 0 0))))
        (local.set $q (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero (v128.and
            (f64x2.pmin (local.get $cap) (f64x2.pmax (v128.const f64x2 0 0) (f64x2.add (local.get $s2) (local.get $bias))))
            (f64x2.ne (local.get $s2) (v128.const f64x2 0 0))))
          (f32x4.demote_f64x2_zero (v128.and
            (f64x2.pmin (local.get $cap) (f64x2.pmax (v128.const f64x2 0 0) (f64x2.add (local.get $s3) (local.get $bias))))
            (f64x2.ne (local.get $s3) (v128.const f64x2 0 0))))))
        (v128.store offset=16 (local.get $o) (local.get $q))
        (local.set $c1 (i32x4.sub (local.get $c1) (f32x4.ne (local.get $q) (v128.const f32x4 0 0 0 0))))
        (local.set $q (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero (v128.and
            (f64x2.pmin (local.get $cap) (f64x2.pmax (v128.const f64x2 0 0) (f64x2.add (local.get $s4) (local.get $bias))))
            (f64x2.ne (local.get $s4) (v128.const f64x2 0 0))))
          (f32x4.demote_f64x2_zero (v128.and
            (f64x2.pmin (local.get $cap) (f64x2.pmax (v128.const f64x2 0 0) (f64x2.add (local.get $s5) (local.get $bias))))
            (f64x2.ne (local.get $s5) (v128.const f64x2 0 0))))))
        (v128.store offset=32 (local.get $o) (local.get $q))
        (local.set $c2 (i32x4.sub (local.get $c2) (f32x4.ne (local.get $q) (v128.const f32x4 0 0 0 0))))
        (local.set $q (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero (v128.and
            (f64x2.pmin (local.get $cap) (f64x2.pmax (v128.const f64x2 0 0) (f64x2.add (local.get $s6) (local.get $bias))))
            (f64x2.ne (local.get $s6) (v128.const f64x2 0 0))))
          (f32x4.demote_f64x2_zero (v128.and
            (f64x2.pmin (local.get $cap) (f64x2.pmax (v128.const f64x2 0 0) (f64x2.add (local.get $s7) (local.get $bias))))
            (f64x2.ne (local.get $s7) (v128.const f64x2 0 0))))))
        (v128.store offset=48 (local.get $o) (local.get $q))
        (local.set $c3 (i32x4.sub (local.get $c3) (f32x4.ne (local.get $q) (v128.const f32x4 0 0 0 0))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br_if $outputs (i32.lt_u (local.get $p) (local.get $pEnd)))))
    (v128.store (local.get $counts) (local.get $c0))
    (v128.store offset=16 (local.get $counts) (local.get $c1))
    (v128.store offset=32 (local.get $counts) (local.get $c2))
    (v128.store offset=48 (local.get $counts) (local.get $c3)))

  ;; The output rule on one sum (the scatter's outputs).
  (func $finish1 (param $s f64) (param $bias f64) (param $cap f64) (result f32)
    (local $t f64)
    (local.set $t (f64.add (local.get $s) (local.get $bias)))
    (local.set $t (select (local.get $t) (f64.const 0) (f64.gt (local.get $t) (f64.const 0))))
    (local.set $t (select (local.get $cap) (local.get $t) (f64.gt (local.get $t) (local.get $cap))))
    (f32.demote_f64 (select (local.get $t) (f64.const 0) (f64.ne (local.get $s) (f64.const 0)))))

  ;; ---- the scatter: one sparse row ------------------------------------------------------------
  ;; Every nonzero x_k adds x_k * W[k, :] into the thread's float64 accumulator (zero between rows),
  ;; then the outputs are read out in ascending order and the accumulator cleared. Writes the
  ;; nonzero outputs at the thread's staging end and the job's results (entry, length, macs, thread);
  ;; returns 0 without doing anything when the staging area cannot hold the row's bound
  ;; (min(outputs, macs) entries, plus the 3 the compacting read-out may write past the end).
  (func $scatter (param $layer i32) (param $thread i32) (param $cols i32) (param $vals i32) (param $count i32) (param $job i32) (result i32)
    (local $inputStart i32) (local $outs i32) (local $weights i32) (local $acc i32) (local $bitmap i32)
    (local $p i32) (local $pEnd i32) (local $k i32) (local $e i32) (local $eEnd i32) (local $macs i32)
    (local $bound i32) (local $used i32) (local $outCols i32) (local $outVals i32) (local $at i32)
    (local $v f64) (local $a i32) (local $j i32) (local $list i32) (local $listEnd i32)
    (local $bias f64) (local $cap f64) (local $r f32) (local $word i32) (local $wordEnd i32) (local $bits i32)
    (local $po i32) (local $pw i32) (local $poEnd i32) (local $po4End i32) (local $vv v128) (local $w2 v128) (local $w4 v128)
    (local $listEnd4 i32) (local $jv v128) (local $s01 v128) (local $s23 v128) (local $rv v128) (local $mask i32) (local $shuf v128)
    (local.set $inputStart (i32.load offset=16 (local.get $layer)))
    (local.set $outs (i32.load offset=20 (local.get $layer)))
    (local.set $weights (i32.load offset=24 (local.get $layer)))
    (local.set $bias (f64.load offset=40 (local.get $layer)))
    (local.set $cap (f64.load offset=48 (local.get $layer)))
    (local.set $acc (i32.load (local.get $thread)))
    (local.set $bitmap (i32.load offset=4 (local.get $thread)))
    (local.set $pEnd (i32.add (local.get $cols) (i32.shl (local.get $count) (i32.const 2))))
    ;; multiply-adds: the fan-out of the row's nonzeros
    (local.set $p (local.get $cols))
    (block $counted (loop $count
      (br_if $counted (i32.ge_u (local.get $p) (local.get $pEnd)))
      (local.set $k (i32.shl (i32.load (local.get $p)) (i32.const 2)))
      (local.set $macs (i32.add (local.get $macs) (i32.sub
        (i32.load offset=4 (i32.add (local.get $inputStart) (local.get $k)))
        (i32.load (i32.add (local.get $inputStart) (local.get $k))))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $count)))
    (local.set $bound (select (local.get $macs) (i32.load offset=32 (local.get $layer))
      (i32.lt_u (local.get $macs) (i32.load offset=32 (local.get $layer)))))
    (local.set $used (i32.load offset=28 (local.get $thread)))
    (if (i32.gt_u (i32.add (i32.add (local.get $used) (local.get $bound)) (i32.const 4)) (i32.load offset=24 (local.get $thread)))
      (then (return (i32.const 0))))
    (local.set $outCols (i32.add (i32.load offset=16 (local.get $thread)) (i32.shl (local.get $used) (i32.const 2))))
    (local.set $outVals (i32.add (i32.load offset=20 (local.get $thread)) (i32.shl (local.get $used) (i32.const 2))))
    (local.set $at (i32.const 0))
    (if (i32.ge_u (i32.shl (local.get $macs) (i32.const 2)) (i32.load offset=32 (local.get $layer)))
      (then
        ;; Dense accumulator. Each nonzero's fan-out, 4 edges at a time: the products in pairs
        ;; (exact either way), each added to its output's sum on its own, in edge order.
        (local.set $p (local.get $cols))
        (block $rowDone (loop $nonzeros
          (br_if $rowDone (i32.ge_u (local.get $p) (local.get $pEnd)))
          (local.set $k (i32.shl (i32.load (local.get $p)) (i32.const 2)))
          (local.set $v (f64.promote_f32 (f32.load (i32.add (local.get $vals) (i32.sub (local.get $p) (local.get $cols))))))
          (local.set $e (i32.load (i32.add (local.get $inputStart) (local.get $k))))
          (local.set $eEnd (i32.load offset=4 (i32.add (local.get $inputStart) (local.get $k))))
          (local.set $po (i32.add (local.get $outs) (i32.shl (local.get $e) (i32.const 2))))
          (local.set $pw (i32.add (local.get $weights) (i32.shl (local.get $e) (i32.const 3))))
          (local.set $poEnd (i32.add (local.get $outs) (i32.shl (local.get $eEnd) (i32.const 2))))
          (local.set $po4End (i32.sub (local.get $poEnd) (i32.const 12)))
          (local.set $vv (f64x2.splat (local.get $v)))
          (block $quadsDone (loop $quads
            (br_if $quadsDone (i32.ge_u (local.get $po) (local.get $po4End)))
            (local.set $w2 (f64x2.mul (local.get $vv) (v128.load (local.get $pw))))
            (local.set $w4 (f64x2.mul (local.get $vv) (v128.load offset=16 (local.get $pw))))
            (local.set $a (i32.add (local.get $acc) (i32.load (local.get $po))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64x2.extract_lane 0 (local.get $w2))))
            (local.set $a (i32.add (local.get $acc) (i32.load offset=4 (local.get $po))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64x2.extract_lane 1 (local.get $w2))))
            (local.set $a (i32.add (local.get $acc) (i32.load offset=8 (local.get $po))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64x2.extract_lane 0 (local.get $w4))))
            (local.set $a (i32.add (local.get $acc) (i32.load offset=12 (local.get $po))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64x2.extract_lane 1 (local.get $w4))))
            (local.set $po (i32.add (local.get $po) (i32.const 16)))
            (local.set $pw (i32.add (local.get $pw) (i32.const 32)))
            (br $quads)))
          (block $restDone (loop $rest
            (br_if $restDone (i32.ge_u (local.get $po) (local.get $poEnd)))
            (local.set $a (i32.add (local.get $acc) (i32.load (local.get $po))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a)) (f64.mul (local.get $v) (f64.load (local.get $pw)))))
            (local.set $po (i32.add (local.get $po) (i32.const 4)))
            (local.set $pw (i32.add (local.get $pw) (i32.const 8)))
            (br $rest)))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (br $nonzeros)))
        (local.set $list (i32.load offset=28 (local.get $layer)))
        (local.set $listEnd (i32.add (local.get $list) (i32.shl (i32.load offset=32 (local.get $layer)) (i32.const 2))))
        ;; One scan of the listed outputs, 4 at a time: the output rule on two pairs, then the
        ;; nonzeros' columns and values compacted to the front (the table) and stored whole.
        (local.set $listEnd4 (i32.add (local.get $list) (i32.and (i32.sub (local.get $listEnd) (local.get $list)) (i32.const -16))))
        (block $groupsDone (loop $groups
          (br_if $groupsDone (i32.ge_u (local.get $list) (local.get $listEnd4)))
          (local.set $jv (v128.load (local.get $list)))
          (local.set $a (i32.add (local.get $acc) (i32.shl (i32x4.extract_lane 0 (local.get $jv)) (i32.const 3))))
          (local.set $s01 (v128.load64_zero (local.get $a)))
          (f64.store (local.get $a) (f64.const 0))
          (local.set $a (i32.add (local.get $acc) (i32.shl (i32x4.extract_lane 1 (local.get $jv)) (i32.const 3))))
          (local.set $s01 (v128.load64_lane 1 (local.get $a) (local.get $s01)))
          (f64.store (local.get $a) (f64.const 0))
          (local.set $a (i32.add (local.get $acc) (i32.shl (i32x4.extract_lane 2 (local.get $jv)) (i32.const 3))))
          (local.set $s23 (v128.load64_zero (local.get $a)))
          (f64.store (local.get $a) (f64.const 0))
          (local.set $a (i32.add (local.get $acc) (i32.shl (i32x4.extract_lane 3 (local.get $jv)) (i32.const 3))))
          (local.set $s23 (v128.load64_lane 1 (local.get $a) (local.get $s23)))
          (f64.store (local.get $a) (f64.const 0))
          (local.set $rv (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (v128.and
              (f64x2.pmin (f64x2.splat (local.get $cap)) (f64x2.pmax (v128.const f64x2 0 0) (f64x2.add (local.get $s01) (f64x2.splat (local.get $bias)))))
              (f64x2.ne (local.get $s01) (v128.const f64x2 0 0))))
            (f32x4.demote_f64x2_zero (v128.and
              (f64x2.pmin (f64x2.splat (local.get $cap)) (f64x2.pmax (v128.const f64x2 0 0) (f64x2.add (local.get $s23) (f64x2.splat (local.get $bias)))))
              (f64x2.ne (local.get $s23) (v128.const f64x2 0 0))))))
          (local.set $mask (i32x4.bitmask (f32x4.ne (local.get $rv) (v128.const f32x4 0 0 0 0))))
          (local.set $shuf (v128.load offset=512 (i32.shl (local.get $mask) (i32.const 4))))
          (v128.store (i32.add (local.get $outCols) (i32.shl (local.get $at) (i32.const 2))) (i8x16.swizzle (local.get $jv) (local.get $shuf)))
          (v128.store (i32.add (local.get $outVals) (i32.shl (local.get $at) (i32.const 2))) (i8x16.swizzle (local.get $rv) (local.get $shuf)))
          (local.set $at (i32.add (local.get $at) (i32.popcnt (local.get $mask))))
          (local.set $list (i32.add (local.get $list) (i32.const 16)))
          (br $groups)))
        (block $scanDone (loop $scan
          (br_if $scanDone (i32.ge_u (local.get $list) (local.get $listEnd)))
          (local.set $j (i32.load (local.get $list)))
          (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))
          (local.set $r (call $finish1 (f64.load (local.get $a)) (local.get $bias) (local.get $cap)))
          (f64.store (local.get $a) (f64.const 0))
          (i32.store (i32.add (local.get $outCols) (i32.shl (local.get $at) (i32.const 2))) (local.get $j))
          (f32.store (i32.add (local.get $outVals) (i32.shl (local.get $at) (i32.const 2))) (local.get $r))
          (local.set $at (i32.add (local.get $at) (f32.ne (local.get $r) (f32.const 0))))
          (local.set $list (i32.add (local.get $list) (i32.const 4)))
          (br $scan))))
      (else
        ;; few multiply-adds for many outputs: mark the touched outputs in a bitmap and read out
        ;; only those, in ascending order, word by word
        (local.set $p (local.get $cols))
        (block $rowDone (loop $nonzeros
          (br_if $rowDone (i32.ge_u (local.get $p) (local.get $pEnd)))
          (local.set $k (i32.shl (i32.load (local.get $p)) (i32.const 2)))
          (local.set $v (f64.promote_f32 (f32.load (i32.add (local.get $vals) (i32.sub (local.get $p) (local.get $cols))))))
          (local.set $e (i32.load (i32.add (local.get $inputStart) (local.get $k))))
          (local.set $eEnd (i32.load offset=4 (i32.add (local.get $inputStart) (local.get $k))))
          (block $fanDone (loop $fan
            (br_if $fanDone (i32.ge_u (local.get $e) (local.get $eEnd)))
            (local.set $j (i32.shr_u (i32.load (i32.add (local.get $outs) (i32.shl (local.get $e) (i32.const 2)))) (i32.const 3)))
            (local.set $a (i32.add (local.get $bitmap) (i32.shl (i32.shr_u (local.get $j) (i32.const 5)) (i32.const 2))))
            (i32.store (local.get $a) (i32.or (i32.load (local.get $a)) (i32.shl (i32.const 1) (local.get $j))))
            (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))
            (f64.store (local.get $a) (f64.add (f64.load (local.get $a))
              (f64.mul (local.get $v) (f64.load (i32.add (local.get $weights) (i32.shl (local.get $e) (i32.const 3)))))))
            (local.set $e (i32.add (local.get $e) (i32.const 1)))
            (br $fan)))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (br $nonzeros)))
        (local.set $word (local.get $bitmap))
        (local.set $wordEnd (i32.add (local.get $bitmap)
          (i32.shl (i32.shr_u (i32.add (i32.load (local.get $layer)) (i32.const 31)) (i32.const 5)) (i32.const 2))))
        (block $wordsDone (loop $words
          (br_if $wordsDone (i32.ge_u (local.get $word) (local.get $wordEnd)))
          (local.set $bits (i32.load (local.get $word)))
          (if (local.get $bits)
            (then
              (i32.store (local.get $word) (i32.const 0))
              (loop $bitsLoop
                (local.set $j (i32.add
                  (i32.shl (i32.sub (local.get $word) (local.get $bitmap)) (i32.const 3))
                  (i32.ctz (local.get $bits))))
                (local.set $a (i32.add (local.get $acc) (i32.shl (local.get $j) (i32.const 3))))
                (local.set $r (call $finish1 (f64.load (local.get $a)) (local.get $bias) (local.get $cap)))
                (f64.store (local.get $a) (f64.const 0))
                (i32.store (i32.add (local.get $outCols) (i32.shl (local.get $at) (i32.const 2))) (local.get $j))
                (f32.store (i32.add (local.get $outVals) (i32.shl (local.get $at) (i32.const 2))) (local.get $r))
                (local.set $at (i32.add (local.get $at) (f32.ne (local.get $r) (f32.const 0))))
                (local.set $bits (i32.and (local.get $bits) (i32.sub (local.get $bits) (i32.const 1))))
                (br_if $bitsLoop (local.get $bits)))))
          (local.set $word (i32.add (local.get $word) (i32.const 4)))
          (br $words)))))
    (i32.store offset=20 (local.get $job) (local.get $used))
    (i32.store offset=24 (local.get $job) (local.get $at))
    (i32.store offset=28 (local.get $job) (local.get $macs))
    (i32.store offset=32 (local.get $job) (i32.load offset=36 (local.get $thread)))
    (i32.store offset=28 (local.get $thread) (i32.add (local.get $used) (local.get $at)))
    (i32.const 1))

  ;; ---- moving rows in and out of blocks -------------------------------------------------------
  ;; Lane `lane` of `block` <- a sparse row (the block was zeroed).
  (func $fillLane (param $block i32) (param $lane i32) (param $cols i32) (param $vals i32) (param $count i32)
    (local $p i32) (local $pEnd i32) (local $base i32)
    (local.set $base (i32.add (local.get $block) (i32.shl (local.get $lane) (i32.const 2))))
    (local.set $pEnd (i32.add (local.get $cols) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $p (local.get $cols))
    (block $done (loop $entries
      (br_if $done (i32.ge_u (local.get $p) (local.get $pEnd)))
      (f32.store (i32.add (local.get $base) (i32.shl (i32.load (local.get $p)) (i32.const 6)))
        (f32.load (i32.add (local.get $vals) (i32.sub (local.get $p) (local.get $cols)))))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $entries))))

  ;; Lane `dstLane` of `dst` <- lane `srcLane` of `src`, all n neurons.
  (func $copyLane (param $n i32) (param $dst i32) (param $dstLane i32) (param $src i32) (param $srcLane i32)
    (local $d i32) (local $s i32) (local $dEnd i32)
    (local.set $d (i32.add (local.get $dst) (i32.shl (local.get $dstLane) (i32.const 2))))
    (local.set $s (i32.add (local.get $src) (i32.shl (local.get $srcLane) (i32.const 2))))
    (local.set $dEnd (i32.add (local.get $d) (i32.shl (local.get $n) (i32.const 6))))
    (block $done (loop $neurons
      (br_if $done (i32.ge_u (local.get $d) (local.get $dEnd)))
      (f32.store (local.get $d) (f32.load (local.get $s)))
      (local.set $d (i32.add (local.get $d) (i32.const 64)))
      (local.set $s (i32.add (local.get $s) (i32.const 64)))
      (br $neurons))))

  ;; The nonzeros of lane `lane` of `block` among the listed neurons (ascending), as a sparse row
  ;; at outCols/outVals, branchless; returns their count.
  (func $extractLane (param $block i32) (param $lane i32) (param $list i32) (param $listCount i32) (param $outCols i32) (param $outVals i32) (result i32)
    (local $base i32) (local $listEnd i32) (local $j i32) (local $v f32) (local $at i32)
    (local.set $base (i32.add (local.get $block) (i32.shl (local.get $lane) (i32.const 2))))
    (local.set $listEnd (i32.add (local.get $list) (i32.shl (local.get $listCount) (i32.const 2))))
    (block $done (loop $neurons
      (br_if $done (i32.ge_u (local.get $list) (local.get $listEnd)))
      (local.set $j (i32.load (local.get $list)))
      (local.set $v (f32.load (i32.add (local.get $base) (i32.shl (local.get $j) (i32.const 6)))))
      (i32.store (i32.add (local.get $outCols) (i32.shl (local.get $at) (i32.const 2))) (local.get $j))
      (f32.store (i32.add (local.get $outVals) (i32.shl (local.get $at) (i32.const 2))) (local.get $v))
      (local.set $at (i32.add (local.get $at) (f32.ne (local.get $v) (f32.const 0))))
      (local.set $list (i32.add (local.get $list) (i32.const 4)))
      (br $neurons)))
    (local.get $at))

  ;; ---- identical rows (the kernel's optional shortcut) -----------------------------------------
  ;; hashes[i] (int32 x 16) = a hash of the bits of lane i of `block` over the listed neurons
  ;; (FNV-1a on 32-bit words), all 16 lanes in one pass over the block.
  (func $hashBlock (param $block i32) (param $list i32) (param $listCount i32) (param $hashes i32)
    (local $listEnd i32) (local $row i32) (local $h0 v128) (local $h1 v128) (local $h2 v128) (local $h3 v128)
    (local.set $h0 (v128.const i32x4 0x811c9dc5 0x811c9dc5 0x811c9dc5 0x811c9dc5))
    (local.set $h1 (local.get $h0)) (local.set $h2 (local.get $h0)) (local.set $h3 (local.get $h0))
    (local.set $listEnd (i32.add (local.get $list) (i32.shl (local.get $listCount) (i32.const 2))))
    (block $done (loop $neurons
      (br_if $done (i32.ge_u (local.get $list) (local.get $listEnd)))
      (local.set $row (i32.add (local.get $block) (i32.shl (i32.load (local.get $list)) (i32.const 6))))
      (local.set $h0 (i32x4.mul (v128.xor (local.get $h0) (v128.load (local.get $row))) (v128.const i32x4 0x01000193 0x01000193 0x01000193 0x01000193)))
      (local.set $h1 (i32x4.mul (v128.xor (local.get $h1) (v128.load offset=16 (local.get $row))) (v128.const i32x4 0x01000193 0x01000193 0x01000193 0x01000193)))
      (local.set $h2 (i32x4.mul (v128.xor (local.get $h2) (v128.load offset=32 (local.get $row))) (v128.const i32x4 0x01000193 0x01000193 0x01000193 0x01000193)))
      (local.set $h3 (i32x4.mul (v128.xor (local.get $h3) (v128.load offset=48 (local.get $row))) (v128.const i32x4 0x01000193 0x01000193 0x01000193 0x01000193)))
      (local.set $list (i32.add (local.get $list) (i32.const 4)))
      (br $neurons)))
    (v128.store (local.get $hashes) (local.get $h0))
    (v128.store offset=16 (local.get $hashes) (local.get $h1))
    (v128.store offset=32 (local.get $hashes) (local.get $h2))
    (v128.store offset=48 (local.get $hashes) (local.get $h3)))

  ;; 1 when lane a of blockA and lane b of blockB hold the same bits on every listed neuron.
  (func $sameLanes (param $blockA i32) (param $a i32) (param $blockB i32) (param $b i32) (param $list i32) (param $listCount i32) (result i32)
    (local $listEnd i32) (local $j i32)
    (local.set $blockA (i32.add (local.get $blockA) (i32.shl (local.get $a) (i32.const 2))))
    (local.set $blockB (i32.add (local.get $blockB) (i32.shl (local.get $b) (i32.const 2))))
    (local.set $listEnd (i32.add (local.get $list) (i32.shl (local.get $listCount) (i32.const 2))))
    (block $done (loop $neurons
      (br_if $done (i32.ge_u (local.get $list) (local.get $listEnd)))
      (local.set $j (i32.shl (i32.load (local.get $list)) (i32.const 6)))
      (if (i32.ne (i32.load (i32.add (local.get $blockA) (local.get $j))) (i32.load (i32.add (local.get $blockB) (local.get $j))))
        (then (return (i32.const 0))))
      (local.set $list (i32.add (local.get $list) (i32.const 4)))
      (br $neurons)))
    (i32.const 1))

;; ---- rows read in -----------------------------------------------------------------------------
  ;; The first of `rows` sparse rows (row r: columns cols[rowStart[r] - first .. rowStart[r + 1] - first))
  ;; whose columns are not all below n and strictly ascending, or -1: the engine addresses memory
  ;; with them, so rows from outside are checked once.
  (func (export "checkRows") (param $rowStart i32) (param $rows i32) (param $cols i32) (param $first i32) (param $n i32) (result i32)
    (local $r i32) (local $p i32) (local $end i32) (local $previous i32) (local $k i32)
    (local.set $p (local.get $cols))
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $end (i32.add (local.get $cols) (i32.shl
        (i32.sub (i32.load offset=4 (i32.add (local.get $rowStart) (i32.shl (local.get $r) (i32.const 2)))) (local.get $first)) (i32.const 2))))
      (local.set $previous (i32.const -1))
      (block $rowDone (loop $entries
        (br_if $rowDone (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $k (i32.load (local.get $p)))
        ;; unsigned: k < n, and k > previous (previous = -1 at a row's start compares as signed)
        (if (i32.or (i32.ge_u (local.get $k) (local.get $n)) (i32.le_s (local.get $k) (local.get $previous)))
          (then (return (local.get $r))))
        (local.set $previous (local.get $k))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $entries)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $row)))
    (i32.const -1))

    ;; ---- the layer's weights in the engine's form ----------------------------------------------
  ;; index[e] <<= shift (an input's offset in a block, or an output's in the accumulator);
  ;; wide[e] = float64(weight[e]).
  (func (export "prepare") (param $count i32) (param $index i32) (param $shift i32) (param $weight i32) (param $wide i32)
    (local $end4 i32) (local $end i32) (local $w v128)
    (local.set $end (i32.add (local.get $index) (i32.shl (local.get $count) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $index) (i32.shl (i32.and (local.get $count) (i32.const -4)) (i32.const 2))))
    ;; 4 edges at a time, then the rest one by one
    (block $done4 (loop $edges4
      (br_if $done4 (i32.ge_u (local.get $index) (local.get $end4)))
      (v128.store (local.get $index) (i32x4.shl (v128.load (local.get $index)) (local.get $shift)))
      (local.set $w (v128.load (local.get $weight)))
      (v128.store (local.get $wide) (f64x2.promote_low_f32x4 (local.get $w)))
      (v128.store offset=16 (local.get $wide) (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $w) (local.get $w))))
      (local.set $index (i32.add (local.get $index) (i32.const 16)))
      (local.set $weight (i32.add (local.get $weight) (i32.const 16)))
      (local.set $wide (i32.add (local.get $wide) (i32.const 32)))
      (br $edges4)))
    (block $done (loop $edges
      (br_if $done (i32.ge_u (local.get $index) (local.get $end)))
      (i32.store (local.get $index) (i32.shl (i32.load (local.get $index)) (local.get $shift)))
      (f64.store (local.get $wide) (f64.promote_f32 (f32.load (local.get $weight))))
      (local.set $index (i32.add (local.get $index) (i32.const 4)))
      (local.set $weight (i32.add (local.get $weight) (i32.const 4)))
      (local.set $wide (i32.add (local.get $wide) (i32.const 8)))
      (br $edges))))

  ;; ---- the job runner -----------------------------------------------------------------------
  ;; Runs jobs[0 .. count) (64 bytes each: kind, then arguments and results, layout.ts). Returns
  ;; the number done: less than count when a scatter did not fit the thread's staging area.
  ;; A block pointer of -1 means the thread's own pack block.
  (func $run (export "run") (param $layer i32) (param $thread i32) (param $jobs i32) (param $count i32) (result i32)
    (local $i i32) (local $job i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $job (i32.add (local.get $jobs) (i32.shl (local.get $i) (i32.const 6))))
      (block $kinds
        (block $same (block $hash (block $extract (block $scatterLane (block $scatter (block $gather (block $copy (block $fill (block $zero (block $bad
          (br_table $bad $zero $fill $copy $gather $scatter $scatterLane $extract $hash $same $bad (i32.load (local.get $job))))
          (unreachable))
          ;; 1 ZERO_BLOCK: block
          (memory.fill (call $block (i32.load offset=4 (local.get $job)) (local.get $thread)) (i32.const 0) (i32.shl (i32.load (local.get $layer)) (i32.const 6)))
          (br $kinds))
          ;; 2 FILL_LANE: block, lane, cols, vals, count
          (call $fillLane (call $block (i32.load offset=4 (local.get $job)) (local.get $thread)) (i32.load offset=8 (local.get $job))
            (i32.load offset=12 (local.get $job)) (i32.load offset=16 (local.get $job)) (i32.load offset=20 (local.get $job)))
          (br $kinds))
          ;; 3 COPY_LANE: dst, dstLane, src, srcLane
          (call $copyLane (i32.load (local.get $layer)) (call $block (i32.load offset=4 (local.get $job)) (local.get $thread)) (i32.load offset=8 (local.get $job))
            (i32.load offset=12 (local.get $job)) (i32.load offset=16 (local.get $job)))
          (br $kinds))
          ;; 4 GATHER: in, out, counts
          (call $gather (local.get $layer) (call $block (i32.load offset=4 (local.get $job)) (local.get $thread)) (i32.load offset=8 (local.get $job)) (i32.load offset=12 (local.get $job)))
          (br $kinds))
          ;; 5 SCATTER: cols, vals, count -> entry, length, macs, thread
          (br_if $done (i32.eqz (call $scatter (local.get $layer) (local.get $thread)
            (i32.load offset=4 (local.get $job)) (i32.load offset=8 (local.get $job)) (i32.load offset=12 (local.get $job)) (local.get $job))))
          (br $kinds))
          ;; 6 SCATTER_LANE: block, lane, list, listCount -> entry, length, macs, thread (via the thread's scratch row)
          (br_if $done (i32.eqz (call $scatter (local.get $layer) (local.get $thread)
            (i32.load offset=8 (local.get $thread)) (i32.load offset=12 (local.get $thread))
            (call $extractLane (i32.load offset=4 (local.get $job)) (i32.load offset=8 (local.get $job))
              (i32.load offset=12 (local.get $job)) (i32.load offset=16 (local.get $job))
              (i32.load offset=8 (local.get $thread)) (i32.load offset=12 (local.get $thread)))
            (local.get $job))))
          (br $kinds))
          ;; 7 EXTRACT: block, lane, list, listCount, outCols, outVals -> length
          (i32.store offset=28 (local.get $job) (call $extractLane (i32.load offset=4 (local.get $job)) (i32.load offset=8 (local.get $job))
            (i32.load offset=12 (local.get $job)) (i32.load offset=16 (local.get $job))
            (i32.load offset=20 (local.get $job)) (i32.load offset=24 (local.get $job))))
          (br $kinds))
          ;; 8 HASH_BLOCK: block, list, listCount, hashes
          (call $hashBlock (i32.load offset=4 (local.get $job)) (i32.load offset=8 (local.get $job))
            (i32.load offset=12 (local.get $job)) (i32.load offset=16 (local.get $job)))
          (br $kinds))
        ;; 9 SAME_LANES: blockA, laneA, blockB, laneB, list, listCount -> 1 if equal
        (i32.store offset=28 (local.get $job) (call $sameLanes (i32.load offset=4 (local.get $job)) (i32.load offset=8 (local.get $job))
          (i32.load offset=12 (local.get $job)) (i32.load offset=16 (local.get $job))
          (i32.load offset=20 (local.get $job)) (i32.load offset=24 (local.get $job)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $i))
;; A job's block pointer: -1 is the thread's pack block.
  (func $block (param $pointer i32) (param $thread i32) (result i32)
    (select (i32.load offset=32 (local.get $thread)) (local.get $pointer) (i32.eq (local.get $pointer) (i32.const -1))))

  ;; Runs tasks (16 bytes each: first job, job count, failed) taken one at a time through the shared
  ;; cursor, until none is left: every thread calls this on the same list, so a thread that is
  ;; slowed down takes fewer. A task whose scatter did not fit the thread's staging area is marked
  ;; failed (its scatter wrote nothing) for the kernel to finish.
  (func (export "runTasks") (param $layer i32) (param $thread i32) (param $tasks i32) (param $taskCount i32) (param $cursor i32)
    (local $i i32) (local $task i32)
    (loop $next
      (local.set $i (i32.atomic.rmw.add (local.get $cursor) (i32.const 1)))
      (if (i32.lt_u (local.get $i) (local.get $taskCount))
        (then
          (local.set $task (i32.add (local.get $tasks) (i32.shl (local.get $i) (i32.const 4))))
          (if (i32.ne (call $run (local.get $layer) (local.get $thread) (i32.load (local.get $task)) (i32.load offset=4 (local.get $task)))
                (i32.load offset=4 (local.get $task)))
            (then (i32.store offset=8 (local.get $task) (i32.const 1))))
          (br $next)))))
)
