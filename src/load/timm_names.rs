//! What a timm architecture name (`vit_base_patch16_clip_224`) says beyond a checkpoint's tensors:
//! the size it names (width, depth, heads, MLP width) and the LayerNorm eps its entrypoint builds
//! with. timm builds a model from its entrypoint's defaults, which its hub configs do not repeat;
//! the tensors cannot tell the head count (heads only split the width) nor the eps. A name is
//! evidence only where the tensors agree with it: a config may name a size its tensors are not.

/// One of timm's ViT sizes, as its entrypoints build it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedSize {
    /// The name's size word (`base`, `so400m`).
    pub name: &'static str,
    pub hidden: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp: usize,
}

/// timm's sizes by the word after `vit_` (`deit_`, `deit3_`): `vision_transformer.py`'s and
/// `deit.py`'s entrypoints.
const SIZES: [NamedSize; 18] = [
    size("tiny", 192, 12, 3, 768),
    size("xsmall", 256, 10, 4, 1024),
    size("wee", 256, 14, 4, 1280),
    size("pwee", 256, 16, 4, 1280),
    size("little", 320, 14, 5, 1792),
    size("small", 384, 12, 6, 1536),
    size("medium", 512, 12, 8, 2048),
    size("mediumd", 512, 20, 8, 2048),
    size("betwixt", 640, 12, 10, 2560),
    size("base", 768, 12, 12, 3072),
    size("so150m2", 832, 21, 13, 2176),
    size("so150m", 896, 18, 14, 2304),
    size("large", 1024, 24, 16, 4096),
    size("so400m", 1152, 27, 16, 4304),
    size("huge", 1280, 32, 16, 5120),
    size("giant", 1408, 40, 16, 6144),
    size("giantopt", 1536, 40, 16, 6144),
    size("gigantic", 1664, 48, 16, 8192),
];

const fn size(name: &'static str, hidden: usize, depth: usize, heads: usize, mlp: usize) -> NamedSize {
    NamedSize {
        name,
        hidden,
        depth,
        heads,
        mlp,
    }
}

/// The size `architecture` names, if it is one of timm's ViT sizes.
pub fn named_size(architecture: &str) -> Option<NamedSize> {
    // A pretrained tag (`.augreg_in21k`) says nothing of the shape.
    let name = architecture.split('.').next()?;
    let rest = ["vit_", "deit3_", "deit_"].iter().find_map(|p| name.strip_prefix(p))?;
    let word = rest.split('_').next()?;
    let mut size = *SIZES.iter().find(|s| s.name == word)?;
    // The entrypoints whose size differs from their word's.
    if word == "base" && rest.contains("_plus") {
        size = NamedSize {
            hidden: 896,
            heads: 14,
            mlp: 3584,
            ..size
        };
    }
    if word == "base" && rest.starts_with("base_patch16_gap") {
        size.heads = 16;
    }
    if word == "small" && rest.contains("_36x1") {
        size.depth = 36;
    }
    Some(size)
}

/// The LayerNorm eps timm's entrypoint for `architecture` builds with: LayerNorm's own 1e-5 for
/// the CLIP towers (`*_clip_*`, `pre_norm` or not) and BEiT-3, timm's 1e-6 for every other
/// (`pre_norm` alone does not change it).
pub fn eps(architecture: Option<&str>) -> f64 {
    let name = architecture.map(|a| a.split('.').next().unwrap_or(a));
    match name {
        Some(n) if n.contains("_clip_") || n.starts_with("beit3_") => 1e-5,
        _ => 1e-6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_timm_s_sizes() {
        let heads = |a: &str| named_size(a).map(|s| s.heads);
        assert_eq!(heads("vit_tiny_patch16_224"), Some(3));
        assert_eq!(heads("vit_small_patch16_224.augreg_in21k"), Some(6));
        assert_eq!(heads("vit_base_patch16_224"), Some(12));
        assert_eq!(heads("vit_large_patch16_224"), Some(16));
        assert_eq!(heads("deit_base_patch16_224"), Some(12));
        assert_eq!(heads("deit3_medium_patch16_224"), Some(8));
        // timm's exceptions to their words.
        assert_eq!(heads("vit_base_patch16_gap_224"), Some(16));
        assert_eq!(
            named_size("vit_base_patch16_plus_240").map(|s| (s.hidden, s.heads)),
            Some((896, 14))
        );
        assert_eq!(named_size("vit_so400m_patch14_siglip_384").map(|s| s.mlp), Some(4304));
        assert_eq!(named_size("vit_small_patch16_36x1_224").map(|s| s.depth), Some(36));
        // Not a size timm has.
        assert_eq!(heads("vit_custom_patch16_224"), None);
        assert_eq!(heads("resnet50"), None);
    }

    #[test]
    fn eps_comes_from_the_name_not_from_pre_norm() {
        assert_eq!(eps(Some("vit_base_patch16_clip_224.laion2b")), 1e-5);
        assert_eq!(eps(Some("vit_base_patch16_clip_quickgelu_224")), 1e-5);
        assert_eq!(eps(Some("beit3_base_patch16_224")), 1e-5);
        assert_eq!(eps(Some("vit_base_patch16_siglip_224")), 1e-6);
        assert_eq!(eps(Some("vit_pre_norm_custom")), 1e-6);
        assert_eq!(eps(None), 1e-6);
    }
}
