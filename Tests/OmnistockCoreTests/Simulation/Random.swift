/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny seeded generator whose whole state is one
/// integer, so a simulation run is fixed by its seed and can be replayed from it exactly.
/// The standard library's generator is seeded by the system and cannot be replayed.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound` (the modulo bias is below 2^-40 for the small bounds used here).
    mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "an empty range has no random member")
        return Int(next() % UInt64(bound))
    }

    /// A number in `range`.
    mutating func int(_ range: ClosedRange<Int64>) -> Int64 {
        range.lowerBound + Int64(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// True with the given chance, in percent.
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }

    /// Up to `count` distinct members of `values`, in their order.
    mutating func subset<T>(_ values: [T], atMost count: Int) -> [T] {
        var chosen: [T] = []
        for value in values where chosen.count < count && chance(50) { chosen.append(value) }
        return chosen
    }
}
