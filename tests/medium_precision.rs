//! `--matmul-precision medium` in its own process (the precision is process-wide,
//! so the library's unit tests never set it): the decode with the argmax folded
//! into the bf16 head gives the argmax of the bf16 logits, for a tied and an
//! untied head, the same ids every run; training code is untouched by the
//! setting's default.

use candle_core::{Device, Tensor, D};
use lastmile::kernels::precision::{matmul_precision, set_matmul_precision, MatmulPrecision};
use lastmile::model::{init_model, ModelConfig};

#[test]
fn folded_argmax_decode_matches_the_logits_at_medium_precision() {
    assert_eq!(matmul_precision(), MatmulPrecision::Highest, "the default is f32");
    set_matmul_precision(MatmulPrecision::Medium);
    let device = Device::Cpu;
    for tied_head in [false, true] {
        let mut config = ModelConfig::tiny();
        config.tied_head = tied_head;
        config.vocab_size = 1000; // not a multiple of the kernel's 32 columns
        config.seq_len = 24;
        let (model, _vars) = init_model(&config, &device, 3).unwrap();
        let x0_hat = Tensor::randn(0f32, 1.0, (3, config.seq_len, config.d_model), &device).unwrap();
        let ids = model.decode_tokens(&x0_hat, None).unwrap();
        let logits = model.logits(&model.decode(&x0_hat, None, false).unwrap()).unwrap();
        let want = logits.argmax(D::Minus1).unwrap().to_vec2::<u32>().unwrap();
        assert_eq!(ids, want, "tied head {tied_head}");
        assert_eq!(model.decode_tokens(&x0_hat, None).unwrap(), ids, "the same ids every run");
    }
}
