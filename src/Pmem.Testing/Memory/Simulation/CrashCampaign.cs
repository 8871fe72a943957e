using System.Text;

namespace Pmem.Memory.Simulation;

/// <summary>
/// Runs a workload once on a <see cref="SimulatedDomain"/> and, at every drain (and at the end), produces crash
/// images and hands each to a checker, which opens its own domain from the image and asserts the invariants.
/// </summary>
/// <remarks>
/// At each crash point the checker sees the image in which nothing was written back early, the one in which
/// everything was, and <see cref="CrashCampaignOptions.ImagesPerPoint"/> random subsets whose seeds derive from
/// <see cref="CrashCampaignOptions.BaseSeed"/>, the drain index and the image index, so a deterministic workload
/// gives the same images on every run and a failure can be reproduced with <see cref="ReproduceImage"/>.
/// A checker failure is any exception it throws; the workload goes on and the failure is recorded.
/// </remarks>
public static class CrashCampaign
{
    /// <summary>The environment variable that, set to <c>long</c>, multiplies the images per crash point.</summary>
    public const string LengthVariable = "PMEM_CRASH_CAMPAIGN";

    /// <summary>The environment variable that, set to <c>1</c>, adds the one-line-lost images (<see cref="CrashCampaignOptions.LoseEachPendingLine"/>) to every campaign that does not choose.</summary>
    public const string LostLinesVariable = "PMEM_CRASH_LOST_LINES";

    /// <summary>Runs a campaign on a fresh zero-filled domain of <paramref name="domainLength"/> bytes.</summary>
    /// <param name="domainLength">Length of the domain the workload runs on.</param>
    /// <param name="workload">The code under test; its drains are the crash points.</param>
    /// <param name="checker">Called with every crash image and where it was taken; throws when an invariant is broken.</param>
    /// <param name="options">Seeds and counts; defaults when null.</param>
    public static CrashCampaignResult Run(
        long domainLength,
        Action<SimulatedDomain> workload,
        Action<byte[], CrashPoint> checker,
        CrashCampaignOptions? options = null)
    {
        var simulation = options?.Simulation;
        return Run(() => new SimulatedDomain(domainLength, simulation), workload, checker, options);
    }

    /// <summary>
    /// Runs a campaign on the domain <paramref name="createDomain"/> returns (set up there what must exist before the
    /// workload: its drains are not crash points). The campaign disposes the domain.
    /// </summary>
    /// <param name="createDomain">Creates and prepares the domain.</param>
    /// <param name="workload">The code under test; its drains are the crash points.</param>
    /// <param name="checker">Called with every crash image and where it was taken; throws when an invariant is broken.</param>
    /// <param name="options">Seeds and counts; defaults when null.</param>
    public static CrashCampaignResult Run(
        Func<SimulatedDomain> createDomain,
        Action<SimulatedDomain> workload,
        Action<byte[], CrashPoint> checker,
        CrashCampaignOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(createDomain);
        ArgumentNullException.ThrowIfNull(workload);
        ArgumentNullException.ThrowIfNull(checker);
        options ??= new CrashCampaignOptions();
        int randomImages = RandomImagesPerPoint(options);
        var run = new RunState(options, checker, randomImages);

        using var domain = createDomain();
        long drainsBefore = domain.DrainCount;

        // A hook the caller installed keeps running, before the crash point.
        var callerHook = domain.BeforeDrain;
        domain.BeforeDrain = d =>
        {
            callerHook?.Invoke(d);
            run.CheckPoint(d, d.DrainCount - drainsBefore, atEnd: false);
        };
        try
        {
            workload(domain);
        }
        finally
        {
            domain.BeforeDrain = callerHook;
        }

        if (options.IncludeEndOfWorkload)
        {
            run.CheckPoint(domain, domain.DrainCount - drainsBefore, atEnd: true);
        }

        return run.ToResult();
    }

    /// <summary>
    /// Runs the workload again and returns the crash image taken at <paramref name="point"/>, to reproduce a failure
    /// reported by <see cref="Run(Func{SimulatedDomain}, Action{SimulatedDomain}, Action{byte[], CrashPoint}, CrashCampaignOptions?)"/>
    /// (the workload must be deterministic).
    /// </summary>
    /// <exception cref="InvalidOperationException">The workload did not reach the point.</exception>
    public static byte[] ReproduceImage(Func<SimulatedDomain> createDomain, Action<SimulatedDomain> workload, CrashPoint point)
    {
        ArgumentNullException.ThrowIfNull(createDomain);
        ArgumentNullException.ThrowIfNull(workload);
        using var domain = createDomain();
        long drainsBefore = domain.DrainCount;
        byte[]? image = null;
        var callerHook = domain.BeforeDrain;
        if (!point.AtEnd)
        {
            domain.BeforeDrain = d =>
            {
                callerHook?.Invoke(d);
                if (image is null && d.DrainCount - drainsBefore == point.DrainIndex)
                {
                    image = TakeImage(d, point);
                }
            };
        }

        workload(domain);
        domain.BeforeDrain = callerHook;
        if (point.AtEnd)
        {
            image = TakeImage(domain, point);
        }

        return image ?? throw new InvalidOperationException($"The workload made fewer than {point.DrainIndex + 1} drains; {point} was not reached.");
    }

    /// <summary>The seed of random image <paramref name="imageIndex"/> at drain <paramref name="drainIndex"/> (SplitMix64 of the three).</summary>
    public static int DeriveSeed(int baseSeed, long drainIndex, int imageIndex)
    {
        ulong x = (ulong)(uint)baseSeed * 0x9E3779B97F4A7C15UL;
        x ^= (ulong)drainIndex * 0xBF58476D1CE4E5B9UL;
        x ^= (ulong)(uint)imageIndex * 0x94D049BB133111EBUL;
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9UL;
        x ^= x >> 27;
        x *= 0x94D049BB133111EBUL;
        x ^= x >> 31;
        return (int)x;
    }

    /// <summary>Random images per crash point after applying the long-campaign multiplier.</summary>
    public static int RandomImagesPerPoint(CrashCampaignOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.ImagesPerPoint);
        bool isLong = options.Long ?? string.Equals(Environment.GetEnvironmentVariable(LengthVariable), "long", StringComparison.OrdinalIgnoreCase);
        return isLong ? checked(options.ImagesPerPoint * Math.Max(1, options.LongCampaignMultiplier)) : options.ImagesPerPoint;
    }

    private static byte[] TakeImage(SimulatedDomain domain, CrashPoint point) => point.Kind switch
    {
        CrashImageKind.NonePersisted => domain.CrashNonePersisted(),
        CrashImageKind.AllPersisted => domain.CrashAllPersisted(),
        CrashImageKind.OneLineLost => domain.CrashLosingLine(point.LostLine),
        _ => domain.Crash(point.Seed),
    };

    private sealed class RunState(CrashCampaignOptions options, Action<byte[], CrashPoint> checker, int randomImages)
    {
        private readonly Lock _lock = new();
        private readonly List<CrashFailure> _failures = [];
        private long _crashPoints;
        private long _drainPoints;
        private long _images;
        private long _failureCount;

        public void CheckPoint(SimulatedDomain domain, long drainIndex, bool atEnd)
        {
            // Drains on several threads take their turn: one crash point at a time.
            lock (_lock)
            {
                _crashPoints++;
                _drainPoints += atEnd ? 0 : 1;
                Check(domain, new CrashPoint(drainIndex, atEnd, CrashImageKind.NonePersisted, 0, 0));
                Check(domain, new CrashPoint(drainIndex, atEnd, CrashImageKind.AllPersisted, 0, 1));
                for (int i = 0; i < randomImages; i++)
                {
                    int seed = DeriveSeed(options.BaseSeed, drainIndex, i);
                    Check(domain, new CrashPoint(drainIndex, atEnd, CrashImageKind.RandomSubset, seed, i + 2));
                }

                if (options.LoseEachPendingLine ?? Environment.GetEnvironmentVariable(LostLinesVariable) == "1")
                {
                    var lines = domain.PendingLineNumbers();
                    for (int i = 0; i < lines.Count; i++)
                    {
                        Check(domain, new CrashPoint(drainIndex, atEnd, CrashImageKind.OneLineLost, 0, randomImages + 2 + i, lines[i]));
                    }
                }
            }
        }

        private void Check(SimulatedDomain domain, CrashPoint point)
        {
            byte[] image = TakeImage(domain, point);
            _images++;
            try
            {
                checker(image, point);
            }
            catch (Exception exception)
            {
                _failureCount++;
                if (_failures.Count < options.MaxFailuresRecorded)
                {
                    _failures.Add(new CrashFailure(point, exception));
                }
            }
        }

        public CrashCampaignResult ToResult()
        {
            lock (_lock)
            {
                return new CrashCampaignResult(_crashPoints, _images, _failureCount, _failures.ToArray()) { DrainPoints = _drainPoints };
            }
        }
    }
}

/// <summary>Settings of a <see cref="CrashCampaign"/>.</summary>
public sealed record CrashCampaignOptions
{
    /// <summary>Seed from which every random image's seed derives.</summary>
    public int BaseSeed { get; init; } = 1;

    /// <summary>Random-subset images per crash point, besides the nothing-persisted and everything-persisted ones.</summary>
    public int ImagesPerPoint { get; init; } = 20;

    /// <summary>Factor applied to <see cref="ImagesPerPoint"/> in a long campaign.</summary>
    public int LongCampaignMultiplier { get; init; } = 10;

    /// <summary>Run a long campaign; null (the default) reads <c>PMEM_CRASH_CAMPAIGN=long</c> from the environment.</summary>
    public bool? Long { get; init; }

    /// <summary>Also check images taken when the workload returns (stores after its last drain).</summary>
    public bool IncludeEndOfWorkload { get; init; } = true;

    /// <summary>How many failures to keep with their exceptions (all are counted).</summary>
    public int MaxFailuresRecorded { get; init; } = 20;

    /// <summary>
    /// Also check, at every crash point, one image per line not yet durable in which every other such line was written
    /// back and that one was not (<see cref="SimulatedDomain.CrashLosingLine"/>). Costly where drains leave many lines
    /// pending: meant for small workloads aimed at one ordering. Null (the default) reads
    /// <c>PMEM_CRASH_LOST_LINES=1</c> from the environment (<see cref="CrashCampaign.LostLinesVariable"/>).
    /// </summary>
    public bool? LoseEachPendingLine { get; init; }

    /// <summary>Settings of the domain the campaign creates when given a length.</summary>
    public SimulationOptions? Simulation { get; init; }
}

/// <summary>Which kind of crash image a campaign checked.</summary>
public enum CrashImageKind
{
    /// <summary>Only the durable image survived.</summary>
    NonePersisted,

    /// <summary>Every dirty line was written back.</summary>
    AllPersisted,

    /// <summary>A random subset (and, with store tracking, prefix) chosen by <see cref="CrashPoint.Seed"/>.</summary>
    RandomSubset,

    /// <summary>Every dirty line written back but <see cref="CrashPoint.LostLine"/> (<see cref="CrashCampaignOptions.LoseEachPendingLine"/>).</summary>
    OneLineLost,
}

/// <summary>Where a crash image was taken.</summary>
/// <param name="DrainIndex">Number of workload drains before the crash (the image is taken just before drain number <c>DrainIndex</c>, counting from 0).</param>
/// <param name="AtEnd">The image was taken when the workload returned, after its last drain.</param>
/// <param name="Kind">Which image.</param>
/// <param name="Seed">For <see cref="CrashImageKind.RandomSubset"/>, the seed passed to <see cref="SimulatedDomain.Crash(int)"/>.</param>
/// <param name="ImageIndex">Position of the image among those taken at this point.</param>
/// <param name="LostLine">For <see cref="CrashImageKind.OneLineLost"/>, the line (offset / 64) that was not written back.</param>
public readonly record struct CrashPoint(long DrainIndex, bool AtEnd, CrashImageKind Kind, int Seed, int ImageIndex, long LostLine = -1)
{
    /// <inheritdoc />
    public override string ToString()
    {
        string where = AtEnd ? $"end of workload (after {DrainIndex} drains)" : $"before drain #{DrainIndex}";
        string what = Kind switch
        {
            CrashImageKind.NonePersisted => "nothing written back",
            CrashImageKind.AllPersisted => "everything written back",
            CrashImageKind.OneLineLost => $"everything written back but line {LostLine} (offset 0x{LostLine * 64:X})",
            _ => $"random subset, seed {Seed}",
        };
        return $"{where}, {what}";
    }
}

/// <summary>A crash image on which the checker failed.</summary>
/// <param name="Point">Where the image was taken and its seed.</param>
/// <param name="Exception">What the checker threw.</param>
public sealed record CrashFailure(CrashPoint Point, Exception Exception)
{
    /// <inheritdoc />
    public override string ToString() => $"{Point}: {Exception.GetType().Name}: {Exception.Message}";
}

/// <summary>What a <see cref="CrashCampaign"/> checked and what failed.</summary>
public sealed class CrashCampaignResult
{
    /// <summary>Creates a result.</summary>
    public CrashCampaignResult(long crashPoints, long imagesChecked, long failureCount, IReadOnlyList<CrashFailure> failures)
    {
        CrashPoints = crashPoints;
        ImagesChecked = imagesChecked;
        FailureCount = failureCount;
        Failures = failures;
    }

    /// <summary>Crash points visited: one per drain in the workload, plus the end of the workload when included.</summary>
    public long CrashPoints { get; }

    /// <summary>Drains of the workload at which images were checked (<see cref="CrashPoints"/> without the end of the workload).</summary>
    public long DrainPoints { get; init; }

    /// <summary>Crash images handed to the checker.</summary>
    public long ImagesChecked { get; }

    /// <summary>Images on which the checker threw.</summary>
    public long FailureCount { get; }

    /// <summary>The first failures (up to <see cref="CrashCampaignOptions.MaxFailuresRecorded"/>), with seed and drain index.</summary>
    public IReadOnlyList<CrashFailure> Failures { get; }

    /// <summary>True when the checker accepted every image.</summary>
    public bool Succeeded => FailureCount == 0;

    /// <summary>Throws when any image failed.</summary>
    /// <exception cref="CrashCampaignFailedException">The failures, with how to reproduce the first.</exception>
    public void ThrowIfFailed()
    {
        if (!Succeeded)
        {
            throw new CrashCampaignFailedException(this);
        }
    }

    /// <inheritdoc />
    public override string ToString()
    {
        var text = new StringBuilder($"{ImagesChecked} crash images checked at {CrashPoints} crash points ({DrainPoints} drains), {FailureCount} failed");
        foreach (var failure in Failures)
        {
            text.AppendLine().Append("  ").Append(failure);
        }

        return text.ToString();
    }
}

/// <summary>Thrown by <see cref="CrashCampaignResult.ThrowIfFailed"/>.</summary>
public sealed class CrashCampaignFailedException : Exception
{
    /// <summary>Creates the exception for a failed campaign.</summary>
    public CrashCampaignFailedException(CrashCampaignResult result)
        : base(result.ToString(), result.Failures.Count > 0 ? result.Failures[0].Exception : null) => Result = result;

    /// <summary>The campaign's result.</summary>
    public CrashCampaignResult Result { get; }
}
