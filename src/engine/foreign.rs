//! Role → file names for foreign layouts (timm `model_best.pth.tar`/`last.pth.tar`,
//! Lightning `best.ckpt`/`last.ckpt`, hf: records only) and their protected sets.
