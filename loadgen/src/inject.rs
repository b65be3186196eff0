//! placeholder
#![allow(missing_docs, dead_code)]
#[derive(Debug)]
pub struct InjectionFile;
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectMode {
    Sequential,
    Random,
    User,
}
impl InjectionFile {
    pub fn mode(&self) -> InjectMode {
        InjectMode::Sequential
    }
    pub fn lines(&self) -> usize {
        0
    }
    pub fn field(&self, _l: usize, _n: usize) -> Option<&str> {
        None
    }
}
