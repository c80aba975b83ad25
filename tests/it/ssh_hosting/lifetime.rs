//! The burst of clones and the push killed midway (filled in next).
