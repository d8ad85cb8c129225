using System.Runtime.ExceptionServices;

namespace DiTNet.Kernels;

/// <summary>A piece of work split into numbered parts that may run on different threads.</summary>
internal interface IParallelWork
{
    /// <summary>Runs part <paramref name="part"/> of the work; parts must touch disjoint outputs.</summary>
    void Execute(int part);
}

/// <summary>
/// Persistent worker threads for the kernels: starting a task per call costs more than a small GEMM,
/// so the workers stay alive between calls and spin briefly before they block.
/// </summary>
/// <remarks>
/// One call at a time owns the workers. A call that finds them busy (another thread's GEMM, or a GEMM
/// issued from inside a worker) runs all its parts on its own thread, which changes the speed but not the
/// result, since parts write disjoint outputs.
/// </remarks>
internal sealed class WorkerPool
{
    // Polling rounds a worker spends on its signal before it blocks: about 100 µs (one round of
    // Thread.SpinWait(20) measured 0.5 µs on Zen 4). Enough to catch the next GEMM of a layer; longer
    // spinning would take the core from other parallel work between GEMMs.
    private const int SpinRounds = 200;

    // Never start more threads than this, whatever a caller asks for.
    private const int MaxWorkers = 63;

    private readonly Lock _gate = new();
    private readonly List<Worker> _workers = [];
    private IParallelWork? _work;
    private int _pending;
    private ExceptionDispatchInfo? _error;

    /// <summary>The pool the kernels share.</summary>
    public static WorkerPool Shared { get; } = new();

    /// <summary>The most parts one call runs at once.</summary>
    public const int MaxParts = MaxWorkers + 1;

    /// <summary>Runs parts <c>0 .. parts-1</c> of <paramref name="work"/>, part 0 on the calling thread, and waits for all.</summary>
    /// <remarks>A single part, or every part while the workers are busy, runs on the calling thread.</remarks>
    public void Run(IParallelWork work, int parts)
    {
        if (parts <= 1 || !TryRun(work, parts))
        {
            for (int part = 0; part < parts; part++)
            {
                work.Execute(part);
            }
        }
    }

    /// <summary>
    /// Runs parts <c>0 .. parts-1</c> of <paramref name="work"/> concurrently, part 0 on the calling thread,
    /// and waits for all; returns false, running nothing, when the workers are busy.
    /// </summary>
    /// <remarks>Parts run at the same time, so they may wait for each other on a <see cref="SpinBarrier"/>.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="parts"/> is not in <c>2 .. MaxParts</c>.</exception>
    public bool TryRun(IParallelWork work, int parts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parts, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(parts, MaxParts);
        if (!_gate.TryEnter())
        {
            return false;
        }

        try
        {
            while (_workers.Count < parts - 1)
            {
                _workers.Add(new Worker(this, _workers.Count + 1));
            }

            _work = work;
            _error = null;
            Volatile.Write(ref _pending, parts - 1);
            for (int i = 0; i < parts - 1; i++)
            {
                _workers[i].Signal.Release();
            }

            try
            {
                work.Execute(0);
            }
            finally
            {
                var spinner = new SpinWait();
                while (Volatile.Read(ref _pending) != 0)
                {
                    spinner.SpinOnce(sleep1Threshold: -1);
                }
                _work = null;
            }
            _error?.Throw();
            return true;
        }
        finally
        {
            _gate.Exit();
        }
    }

    private sealed class Worker
    {
        private readonly WorkerPool _pool;
        private readonly int _part;

        public Worker(WorkerPool pool, int part)
        {
            _pool = pool;
            _part = part;
            var thread = new Thread(Loop) { IsBackground = true, Name = $"DiTNet kernel worker {part}" };
            thread.Start();
        }

        public SemaphoreSlim Signal { get; } = new(0);

        private void Loop()
        {
            while (true)
            {
                // poll first: a release without a blocked waiter costs no system call
                for (int round = 0; round < SpinRounds && Signal.CurrentCount == 0; round++)
                {
                    Thread.SpinWait(20);
                }
                Signal.Wait();

                try
                {
                    _pool._work!.Execute(_part);
                }
                catch (Exception error)
                {
                    Interlocked.CompareExchange(ref _pool._error, ExceptionDispatchInfo.Capture(error), null);
                }
                finally
                {
                    Interlocked.Decrement(ref _pool._pending);
                }
            }
        }
    }
}

/// <summary>A barrier for the parts of one <see cref="WorkerPool.TryRun"/> call, spinning rather than blocking.</summary>
internal sealed class SpinBarrier
{
    private int _parts;
    private int _remaining;
    private int _generation;

    /// <summary>Prepares the barrier for <paramref name="parts"/> participants; call before the parts start.</summary>
    public void Reset(int parts)
    {
        _parts = parts;
        Volatile.Write(ref _remaining, parts);
    }

    /// <summary>Returns once every participant has called it.</summary>
    public void SignalAndWait()
    {
        int generation = Volatile.Read(ref _generation);
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            // the last to arrive re-arms the barrier before it releases the others
            Volatile.Write(ref _remaining, _parts);
            Interlocked.Increment(ref _generation);
            return;
        }

        var spinner = new SpinWait();
        while (Volatile.Read(ref _generation) == generation)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }
}
