/// How a group retries transient failures: a few tries in place with exponential backoff and
/// jitter, then one retry topic per stage with a growing delay, then the dead-letter topic.
public struct RetryLadder: Sendable, Hashable {
    /// Tries of a message at each stage (the source topic and each retry topic), at least 1.
    public var attemptsPerStage: Int
    /// Backoff before the second in-place try; doubled for each further try, up to `maxBackoff`.
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    /// Fraction (0…1) of each backoff that is randomized, so copies don't retry in lock step.
    public var jitter: Double
    /// Delay of each retry stage: a message written to stage n is not handled before this much time.
    public var stageDelays: [Duration]

    public init(
        attemptsPerStage: Int = 3, initialBackoff: Duration = .milliseconds(200), maxBackoff: Duration = .seconds(5),
        jitter: Double = 0.2, stageDelays: [Duration] = [.seconds(5), .seconds(30), .seconds(300)]
    ) {
        self.attemptsPerStage = max(1, attemptsPerStage)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.jitter = min(1, max(0, jitter))
        self.stageDelays = stageDelays
    }

    public static let `default` = RetryLadder()

    /// Every try a message gets before it is dead-lettered.
    public var totalAttempts: Int { attemptsPerStage * (stageDelays.count + 1) }

    /// The backoff before in-place try `tryIndex + 1` (tryIndex ≥ 1), jittered by `unitRandom` in 0..<1.
    public func backoff(afterTry tryIndex: Int, unitRandom: Double) -> Duration {
        let exponent = max(0, min(tryIndex - 1, 30))
        var base = initialBackoff * (1 << exponent)
        if base > maxBackoff { base = maxBackoff }
        let factor = 1 - jitter + 2 * jitter * min(max(unitRandom, 0), 1)
        return base * factor
    }

    /// What follows a message that failed every in-place try at `stage` (0 = the source topic).
    public func next(afterStage stage: Int) -> RetryStep {
        stage < stageDelays.count ? .retryTopic(stage: stage + 1, delay: stageDelays[stage]) : .deadLetter
    }
}

public enum RetryStep: Sendable, Hashable {
    case retryTopic(stage: Int, delay: Duration)
    case deadLetter
}
