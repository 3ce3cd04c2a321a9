// The input both examples embed: a 28×28 "7" drawn by a `const fn` (a top bar and a
// diagonal stroke, intensities 0..1), so host and firmware see the same bytes without
// a giant literal array. Shared with `include!`.

/// The embedded 28×28 digit, row-major, as `lenet::IMAGE_LEN` floats.
pub const fn digit() -> [f32; 784] {
    let mut image = [0.0f32; 784];
    let mut x = 6;
    while x < 22 {
        image[5 * 28 + x] = 1.0;
        image[6 * 28 + x] = 0.8;
        x += 1;
    }
    let mut y = 7;
    while y < 24 {
        // The stroke runs from (21, 7) down-left to about (12, 23).
        let cx = 21 - (y - 7) * 9 / 16;
        image[y * 28 + cx] = 1.0;
        image[y * 28 + cx - 1] = 0.6;
        y += 1;
    }
    image
}

/// The index of the largest value (the predicted class).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}
