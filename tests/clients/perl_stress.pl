#!/usr/bin/perl
# Perl client of the real-program suite: ithreads (every thread clones the
# whole interpreter, and its memory is freed at join by another thread),
# Thread::Queue hand-offs, fork from the main thread and from inside threads,
# and strings grown by appends and rewritten by substitutions.
#
# Data come from a fixed-seed generator of our own, so stdout (one digest per
# phase) is identical from run to run. GCMALLOC_CLIENTS_FULL=1 makes it bigger.
use strict;
use warnings;
use threads;
use threads::shared;
use Thread::Queue;
use Digest::MD5 qw(md5_hex);
use POSIX ();

my $full = ($ENV{GCMALLOC_CLIENTS_FULL} // '') eq '1';
my $scale = $full ? 4 : 1;

# A small linear congruential generator: same numbers on every run and in
# every thread, whatever perl's own rand does.
sub lcg_new { my ($seed) = @_; return { s => $seed & 0x7fffffff }; }
sub lcg {
	my ($g, $n) = @_;
	$g->{s} = ($g->{s} * 1103515245 + 12345) & 0x7fffffff;
	return ($g->{s} >> 8) % $n;
}

my @letters = ('a' .. 'z');
sub word {
	my ($g) = @_;
	my $len = 2 + lcg($g, 10);
	return join '', map { $letters[lcg($g, 26)] } 1 .. $len;
}

# Hashes, arrays, regexes, sort, join: returns a digest.
sub work_unit {
	my ($seed, $size) = @_;
	my $g = lcg_new($seed);
	my %h;
	for my $i (1 .. $size) {
		my $k = word($g) . '-' . ($i % 1009);
		push @{ $h{$k} }, join ' ', map { word($g) } 1 .. (1 + lcg($g, 20));
		splice @{ $h{$k} }, 0, 3 if @{ $h{$k} } > 6;
	}
	my $text = join "\n", map { "$_=" . join('|', @{ $h{$_} }) } sort keys %h;
	(my $t2 = $text) =~ s/([aeiou])([a-z]*)/\U$1\E$2$2/g;
	my @m = ($t2 =~ /\b([A-Z][a-z]{3,6})\b/g);
	my %count;
	$count{$_}++ for @m;
	my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 9];
	return md5_hex($text, $t2, join(',', map { defined $_ ? $_ : '' } @top), scalar @m);
}

# Phase 1: several rounds of threads, each building its own data; the main
# thread collects the results and the clones are destroyed at join.
sub phase_threads {
	my @out;
	for my $round (1 .. 3 * $scale) {
		my @t = map {
			my $seed = 100 * $round + $_;
			threads->create(sub { work_unit($seed, 4000) });
		} 1 .. 4;
		push @out, map { $_->join } @t;
	}
	return md5_hex(join ',', @out);
}

# Phase 2: producer threads hand strings to consumer threads through queues
# (allocated in one interpreter, copied and freed in others).
sub phase_queue {
	my $q = Thread::Queue->new;
	my $r = Thread::Queue->new;
	my @prod = map {
		my $seed = $_;
		threads->create(sub {
			my $g = lcg_new($seed);
			for (1 .. 3000 * $scale) {
				$q->enqueue(join(' ', map { word($g) } 1 .. (1 + lcg($g, 200))));
			}
			return 0;
		});
	} 1 .. 2;
	my @cons = map {
		threads->create(sub {
			my ($n, $sum) = (0, 0);
			while (defined(my $s = $q->dequeue)) {
				$n++;
				$sum = ($sum + length($s) * 31 + ord($s)) % 1000000007;
			}
			$r->enqueue("$n:$sum");
			return 0;
		});
	} 1 .. 2;
	$_->join for @prod;
	$q->end;
	$_->join for @cons;
	my @res;
	while (defined(my $x = $r->dequeue_nb)) { push @res, $x }
	my ($n, $sum) = (0, 0);
	for (@res) { my ($a, $b) = split /:/; $n += $a; $sum = ($sum + $b) % 1000000007 }
	return "$n:$sum";
}

# Runs $code in a forked child, returns what it wrote on the pipe.
sub in_child {
	my ($code) = @_;
	pipe(my $rd, my $wr) or die "pipe: $!";
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0) {
		close $rd;
		my $res = eval { $code->() };
		if (!defined $res) {
			print STDERR "child failed: $@";
			POSIX::_exit(1);
		}
		print $wr $res;
		close $wr;
		POSIX::_exit(0);
	}
	close $wr;
	local $/;
	my $res = <$rd>;
	close $rd;
	waitpid($pid, 0) == $pid or die "waitpid: $!";
	die "child exited with status $?\n" if $?;
	return $res;
}

# A 4 MiB string rewritten in place and by substitutions that grow and
# shrink it.
sub rewrite_big {
	my ($seed) = @_;
	my $g = lcg_new($seed);
	my @pool = map { word($g) . ' ' } 1 .. 2000;
	my $s = '';
	$s .= $pool[lcg($g, 2000)] while length($s) < (4 << 20);
	for my $pass (1 .. 3) {
		$s =~ s/e/EEE/g;
		$s =~ tr/a-m/n-z/;
		$s =~ s/ [a-d]+ / /g;
		substr($s, lcg($g, length $s), 0, 'x' x (1 + lcg($g, 100000)));
		$s = reverse $s;
	}
	return md5_hex($s) . ':' . length($s);
}

# Phase 3: fork from the main thread while another thread allocates;
# children rewrite big strings, start a thread and fork grandchildren.
sub phase_fork {
	my $stop :shared = 0;
	my $bg = threads->create(sub {
		my $g = lcg_new(31337);
		my ($n, @keep) = (0);
		while (!$stop) {
			push @keep, word($g) x (1 + lcg($g, 5000));
			splice @keep, 0, 100 if @keep > 300;
			$n++;
		}
		return $n > 0 ? 1 : 0;
	});
	my @out;
	for my $i (1 .. 8 * $scale) {
		push @out, in_child(sub {
			my $a = rewrite_big($i);
			my $t = threads->create(sub { work_unit(600 + $i, 1500) });
			my $b = in_child(sub { work_unit(900 + $i, 2000) });
			return "$a/$b/" . $t->join;
		});
	}
	$stop = 1;
	$bg->join or die "background thread did nothing\n";
	return md5_hex(join ',', @out);
}

# Phase 4: threads that fork (a child of a thread only allocates: perl cannot
# start threads in it).
sub phase_thread_fork {
	my @t = map {
		my $i = $_;
		threads->create(sub {
			return in_child(sub { work_unit(700 + $i, 2500) . '+' . rewrite_big(50 + $i) });
		});
	} 1 .. 3;
	return md5_hex(join ',', map { $_->join } @t);
}

# Phase 5: a string grown by appends to tens of MB, then cut and copied.
sub phase_grow {
	my $g = lcg_new(4242);
	my $s = '';
	my $target = 20 * $scale << 20;
	my @pieces = map { word($g) x (1 + lcg($g, 50)) } 1 .. 500;
	$s .= $pieces[lcg($g, 500)] while length($s) < $target;
	my $copy = $s;
	substr($copy, 0, length($copy) / 2, '');
	my @parts = unpack '(a1048576)*', $s;
	my $joined = join '', reverse @parts;
	return md5_hex($s) . ' ' . md5_hex($copy) . ' ' . md5_hex($joined) . ' ' . length($s);
}

$| = 1;
print "threads ", phase_threads(), "\n";
print "queue ", phase_queue(), "\n";
print "fork ", phase_fork(), "\n";
print "thread-fork ", phase_thread_fork(), "\n";
print "grow ", phase_grow(), "\n";
print "perl done\n";
