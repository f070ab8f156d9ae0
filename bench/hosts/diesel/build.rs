fn main() {
    println!("cargo:rerun-if-changed=../../sets/diesel/1000");
}
