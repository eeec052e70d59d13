//! sdn-store
