// ProgressReporter -- a one-line progress display on stderr for work that may take more than a second.
using System.Diagnostics;

namespace Pmem.Tool.Output;

/// <summary>
/// Shows "label: 42% (1.2 GiB of 2.9 GiB)" on one stderr line, rewritten in place, once the work has run for a second,
/// at most ten times a second; <see cref="Done"/> clears the line. Silent when stderr is not a terminal.
/// </summary>
internal sealed class ProgressReporter
{
    private static readonly TimeSpan Delay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private readonly TextWriter _error;
    private readonly string _label;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _lastShown; // zero: the first report after the delay shows
    private int _shownWidth;

    private ProgressReporter(TextWriter error, string label)
    {
        _error = error;
        _label = label;
    }

    /// <summary>A reporter for <paramref name="label"/>, or null when progress is not shown.</summary>
    public static ProgressReporter? Start(ToolConsole console, string label) =>
        console.ShowProgress ? new ProgressReporter(console.Error, label) : null;

    /// <summary>
    /// For work that cannot tell how far it is: after a second shows "label… 3 s" on stderr, updated four times a
    /// second, until disposed. Null when progress is not shown.
    /// </summary>
    public static IDisposable? StartIndeterminate(ToolConsole console, string label) =>
        console.ShowProgress ? new Ticker(console.Error, label) : null;

    /// <summary>Reports <paramref name="done"/> of <paramref name="total"/> bytes.</summary>
    public void Report(long done, long total)
    {
        var now = _clock.Elapsed;
        if (now < Delay || now - _lastShown < Interval)
        {
            return;
        }

        _lastShown = now;
        var percent = total > 0 ? done * 100 / total : 100;
        var line = $"{_label}: {percent}% ({Format.Bytes(done)} of {Format.Bytes(total)})";
        _error.Write("\r" + line.PadRight(_shownWidth));
        _error.Flush();
        _shownWidth = line.Length;
    }

    /// <summary>Clears the progress line, if one was shown.</summary>
    public void Done()
    {
        if (_shownWidth > 0)
        {
            _error.Write("\r" + new string(' ', _shownWidth) + "\r");
            _error.Flush();
            _shownWidth = 0;
        }
    }

    private sealed class Ticker : IDisposable
    {
        private readonly Lock _lock = new();
        private readonly TextWriter _error;
        private readonly string _label;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Timer _timer;
        private int _shownWidth;
        private bool _disposed;

        public Ticker(TextWriter error, string label)
        {
            _error = error;
            _label = label;
            _timer = new Timer(_ => Tick(), null, Delay, TimeSpan.FromMilliseconds(250));
        }

        private void Tick()
        {
            lock (_lock)
            {
                if (_disposed)
                {
                    return;
                }

                var line = $"{_label}… {(int)_clock.Elapsed.TotalSeconds} s";
                _error.Write("\r" + line.PadRight(_shownWidth));
                _error.Flush();
                _shownWidth = line.Length;
            }
        }

        public void Dispose()
        {
            _timer.Dispose();
            lock (_lock)
            {
                _disposed = true;
                if (_shownWidth > 0)
                {
                    _error.Write("\r" + new string(' ', _shownWidth) + "\r");
                    _error.Flush();
                }
            }
        }
    }
}
