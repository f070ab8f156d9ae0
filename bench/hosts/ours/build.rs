fn main() {
    println!("cargo:rerun-if-changed=../../sets/ours/1000");
}
