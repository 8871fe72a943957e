// FuzzCaseBase -- what a fuzz case running on its own thread shares with the runner that waits for it: its step and its failures.
namespace Pmem.Tests.Robustness;

/// <summary>
/// A damaged pool exercised on its own thread: the runner reads <see cref="Step"/> when the case hangs, and takes its
/// failures when it returns (or hangs), so both are safe to read from another thread.
/// </summary>
internal abstract class FuzzCaseBase<TFailure>(string name)
{
    private readonly List<TFailure> _failures = [];
    private volatile string _step = "start";

    public string Name { get; } = name;

    /// <summary>What the case is doing now.</summary>
    public string Step
    {
        get => _step;
        protected set => _step = value;
    }

    public List<TFailure> TakeFailures()
    {
        lock (_failures)
        {
            var taken = _failures.ToList();
            _failures.Clear();
            return taken;
        }
    }

    protected void Add(TFailure failure)
    {
        lock (_failures)
        {
            _failures.Add(failure);
        }
    }
}
