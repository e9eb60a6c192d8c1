;; The newline counter of newlines.ts, in WebAssembly text. `npm run build` turns it into the bytes
;; of newlines-wasm.ts (scripts/build-wasm.mjs, with the wabt package); edit this file, not that one.
;;
;; scan(p, end): the bytes equal to 0x0A in memory[p, end), times two, plus one if a byte there is 0
;; (`end - p` a multiple of 16). Sixteen lanes each count up to 255 matches (i8x16.eq gives -1 per
;; match, subtracted from the lane), then the lanes are summed into the total, and again; meanwhile
;; each lane keeps the smallest byte it saw.
(module
  (memory (export "memory") 1)
  (func (export "scan") (param $p i32) (param $end i32) (result i32)
    (local $total i32)
    (local $rounds i32)
    (local $lanes v128)
    (local $nl v128)
    (local $bytes v128)
    (local $smallest v128)
    ;; sixteen copies of 0x0A; 0xFF in every lane of the smallest bytes
    (local.set $nl (i8x16.splat (i32.const 10)))
    (local.set $smallest (v128.const i8x16 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1))
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $lanes (v128.const i8x16 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0))
        (local.set $rounds (i32.const 255))
        ;; at most 255 rounds of 16 bytes, so that no lane's count wraps
        (block $full
          (loop $inner
            (br_if $full (i32.ge_u (local.get $p) (local.get $end)))
            ;; $lanes -= i8x16.eq($bytes, $nl): one more in each lane that holds a 0x0A
            (local.set $lanes
              (i8x16.sub
                (local.get $lanes)
                (i8x16.eq (local.tee $bytes (v128.load (local.get $p))) (local.get $nl))))
            (local.set $smallest (i8x16.min_u (local.get $smallest) (local.get $bytes)))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (br_if $inner (local.tee $rounds (i32.sub (local.get $rounds) (i32.const 1))))))
        ;; the 16 byte lanes summed into 4 i32 lanes, added to the total
        (local.set $lanes (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u (local.get $lanes))))
        (local.set $total
          (i32.add
            (i32.add
              (i32.add
                (i32.add (local.get $total) (i32x4.extract_lane 0 (local.get $lanes)))
                (i32x4.extract_lane 1 (local.get $lanes)))
              (i32x4.extract_lane 2 (local.get $lanes)))
            (i32x4.extract_lane 3 (local.get $lanes))))
        (br $outer)))
    ;; the count times two, or'ed with 1 - all_true($smallest): a lane saw a 0
    (i32.or
      (i32.shl (local.get $total) (i32.const 1))
      (i32.sub (i32.const 1) (i8x16.all_true (local.get $smallest))))))
