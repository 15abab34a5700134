//! CoreDNS's configuration, read as CoreDNS reads it: the Corefile a cluster already has
//! (`--corefile PATH`) becomes clusterdns's own settings.

pub mod glob;
pub mod lexer;
pub mod parse;
