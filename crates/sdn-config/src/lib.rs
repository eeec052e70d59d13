//! sdn-config
