pub mod sdn;
