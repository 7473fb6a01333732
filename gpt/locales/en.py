"""English: the reference table. Every key exists here; other languages may leave some out."""

NAME = "English"

TEXTS = {
    # Why `auto` picked a number type (gpt.device.choose_dtype).
    "dtype_reason.requested": "as requested",
    "dtype_reason.cuda_bf16": "this GPU computes in bfloat16",
    "dtype_reason.cuda_fp16": "this GPU has no bfloat16, so float16 with loss scaling",
    "dtype_reason.cpu_amx": "this CPU has AMX-BF16 units",
    "dtype_reason.cpu_avx512_bf16": "this CPU computes bfloat16 natively (AVX-512 BF16)",
    "dtype_reason.cpu_no_bf16": "this CPU has no native bfloat16 (it would be slower than float32)",
    "dtype_reason.other_device": "float32 is the safe choice on this device",
}
