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
    // Polling rounds a worker spends on its signal before it blocks; about 20-50 µs on this hardware,
    // enough to catch the next GEMM of a layer without burning a core between steps.
    private const int SpinRounds = 2000;

    // Never start more threads than this, whatever a caller asks for.
    private const int MaxWorkers = 63;

    private readonly Lock _gate = new();
    private readonly List<Worker> _workers = [];
    private IParallelWork? _work;
    private int _pending;
    private ExceptionDispatchInfo? _error;

    /// <summary>The pool the kernels share.</summary>
    public static WorkerPool Shared { get; } = new();

    /// <summary>Runs parts <c>0 .. parts-1</c> of <paramref name="work"/>, part 0 on the calling thread, and waits for all.</summary>
    public void Run(IParallelWork work, int parts)
    {
        if (parts <= 1 || !_gate.TryEnter())
        {
            for (int part = 0; part < parts; part++)
            {
                work.Execute(part);
            }
            return;
        }

        try
        {
            parts = Math.Min(parts, MaxWorkers + 1);
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
