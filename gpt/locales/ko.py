"""한국어 (Korean)."""

NAME = "한국어"

TEXTS = {
    "dtype_reason.requested": "요청한 대로",
    "dtype_reason.cuda_bf16": "이 GPU는 bfloat16으로 계산합니다",
    "dtype_reason.cuda_fp16": "이 GPU에는 bfloat16이 없어 손실 스케일링과 함께 float16을 씁니다",
    "dtype_reason.cpu_amx": "이 CPU에는 AMX-BF16 장치가 있습니다",
    "dtype_reason.cpu_avx512_bf16": "이 CPU는 bfloat16을 직접 계산합니다 (AVX-512 BF16)",
    "dtype_reason.cpu_no_bf16": "이 CPU는 bfloat16을 직접 계산하지 못합니다 (float32보다 느립니다)",
    "dtype_reason.other_device": "이 장치에서는 float32가 안전합니다",
}
